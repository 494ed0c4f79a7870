"""Run the vqvae_nb benchmarks and write benchmarks/results/*.json and benchmarks/results/RESULTS.md.

    python benchmarks/run.py [--quick] [--only quantizer,training,sampling,quality,nbdev_test] [--mnist DIR] [--threads N]

CPU always, CUDA as well when torch sees a GPU. Speeds are ratios measured in the same run; absolute
times hold only for the machine named beside them. Not a test: CI never runs this.
"""
from __future__ import annotations
import argparse, importlib, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, devices, save, load, machine_line

BENCHMARKS = ('quantizer', 'training', 'sampling', 'quality', 'nbdev_test')

def write_markdown() -> Path:
    "RESULTS.md from every results/*.json there is, so that running one benchmark keeps the others' tables."
    parts = ['# vqvae_nb benchmarks\n', 'Made by `python benchmarks/run.py`; each table names the machine and date it was measured on.\n']
    for name in BENCHMARKS:
        res = load(name)
        if res is None: continue
        md = importlib.import_module(f'bench_{name}').markdown(res)
        quick = ' — **quick run** (fewer repeats, smaller sizes)' if res['quick'] else ''
        parts.append(f"{md}\n\n*{machine_line(res['machine'])}; took {res['seconds']:.0f} s{quick}.*\n")
    path = RESULTS/'RESULTS.md'
    path.write_text('\n'.join(parts))
    return path

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='fewer repeats and smaller sizes: checks that everything runs')
    p.add_argument('--only', default=','.join(BENCHMARKS), help=f'comma-separated subset of {",".join(BENCHMARKS)}')
    p.add_argument('--mnist', default=str(Path(__file__).parents[1]/'../shared/data/mnist'),
                   help='folder with the MNIST test set IDX files (t10k-*-ubyte[.gz]) for the quality table')
    p.add_argument('--cpu-only', action='store_true', help='skip CUDA even when available')
    p.add_argument('--tables-only', action='store_true', help='only rewrite RESULTS.md from the results/*.json there are')
    p.add_argument('--threads', type=int, default=None, help="torch CPU threads (default: torch's choice, one per core)")
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    names = [] if args.tables_only else [n.strip() for n in args.only.split(',') if n.strip()]
    if unknown := set(names) - set(BENCHMARKS): p.error(f'unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}')
    devs = devices()[:1] if args.cpu_only else devices()
    for name in names:
        start = time.perf_counter()
        module = importlib.import_module(f'bench_{name}')
        kwargs = dict(mnist=args.mnist) if name == 'quality' else {}
        res = module.run(quick=args.quick, devices=devs, **kwargs)
        res['seconds'] = time.perf_counter() - start
        print(f'{name}: {res["seconds"]:.0f} s -> {save(name, res, args.quick)}', flush=True)
    print(f'tables -> {write_markdown()}')

if __name__ == '__main__': main()
