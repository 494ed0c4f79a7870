"""Run the vqvae_nb benchmarks and write benchmarks/results/*.json, RESULTS.md (every table) and SUMMARY.md (the README's).

    python benchmarks/run.py [--quick] [--only quantizer,training,distributed,sampling,quality,peer,nbdev_test] [--mnist DIR] [--threads N]

CPU always, CUDA as well when torch sees a GPU. Speeds are ratios measured in the same run; absolute
times hold only for the machine named beside them. Not a test: CI never runs this.
"""
from __future__ import annotations
import argparse, importlib, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, devices, save, load, machine_line

BENCHMARKS = ('quantizer', 'training', 'distributed', 'sampling', 'quality', 'peer', 'nbdev_test')

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

def _date(res:dict) -> str: return res['machine']['date'].split(' ')[0]

def summary_markdown() -> Path:
    "SUMMARY.md: the headline numbers of every full-run results/*.json there is, in the short form the README shows."
    from common import fmt
    rows, machines, threads = [], set(), {}
    def full(name):
        res = load(name)
        if res is None or res['quick']: return None
        m = res['machine']; machines.add(f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}")
        threads.setdefault(m['torch_threads'], []).append(name)
        return res
    if q := full('quantizer'):
        rows += [(f"quantizer forward + backward vs `vector_quantize_pytorch` ({_date(q)})",
                  f"`{r['quantizer']}`, K={r['num_codes']:,}, D={r['code_dim']}, {r['latents']:,} latents",
                  f"**{r['speedup']:.1f}× faster** ({fmt(r['ours_ms'])} vs {fmt(r['theirs_ms'])} ms); "
                  + ('same codes' if r['ties_only'] else 'codes differ'))
                 for r in q['rows'] if r['device'] == 'cpu']
    if t := full('training'):
        rows += [(f"training step: forward, backward, Adam ({_date(t)})", f"{r['config']}, batch {r['batch']}",
                  f"{fmt(r['images_per_s'])} images/s, {r['fraction_of_peak']:.2f} of the measured matmul peak")
                 for r in t['rows'] if r['device'] == 'cpu']
    if s := full('sampling'):
        rows += [(f"sampling codes from the prior ({_date(s)})", f"{r['n']} maps of {r['shape']} codes",
                  f"**{r['speedup']:.0f}× faster** than the naive loop ({fmt(r['fast_s'])} vs {fmt(r['naive_s'])} s"
                  + (', naive extrapolated)' if r['naive_extrapolated'] else ')'))
                 for r in s['rows'] if r['device'] == 'cpu']
    if n := full('nbdev_test'):
        rows.append((f"`nbdev_test` ({_date(n)})", f"all {len(n['notebooks'])} notebooks",
                     f"{n['total_s']:.0f} s, {'passed' if n['passed'] else 'FAILED'}"))
    out = ['| benchmark | setting | CPU result |', '|---|---|---|', *[f'| {a} | {b} | {c} |' for a, b, c in rows]]
    if r := full('quality'):
        out += ['', f"Quality: `vqvae_nb train`'s default pipeline, only the codebook changed; {r['steps']:,} VQ-VAE and "
                f"{r['prior_steps']:,} prior steps on one CPU thread ({_date(r)}; held-out images throughout):", '',
                '| dataset | codebook | MSE | perplexity | codes used | prior bits/code | bits/dim | samples read right | minutes |',
                '|---|---|---|---|---|---|---|---|---|']
        out += [f"| {x['dataset']} | {x['codebook']} | {fmt(x['recon_mse'])} | {fmt(x['perplexity'])} | "
                f"{x['codes_used']} / {x['num_codes']} | {fmt(x['prior_nll_bits'])} | {fmt(x['bits_per_dim'])} | "
                f"{x['sample_accuracy']:.0%} | {x['total_seconds'] / 60:.1f} |" for x in r['rows']]
    if (r := full('peer')) and 'skipped' not in r:
        h, ours, peer = r['headline'], r['vqvae_rows'][0], min(r['vqvae_rows'][1:], key=lambda x: x['recon_mse'])
        out += ['', f"Against pythae {r['pythae_version']} at equal CPU time ({r['vqvae_seconds']:g} s per VQ-VAE, "
                f"{r['prior_seconds']:g} s per prior, one thread, {_date(r)}; `benchmarks/results/PEER.md`): held-out MSE "
                f"{fmt(ours['recon_mse'])} vs {fmt(peer['recon_mse'])} (pythae {peer['setting']}), unconditional sample FD "
                f"{fmt(h['fd_ours_unconditional'])} vs {fmt(h['fd_peer'])}."]
    used = '; '.join(f"{n} for {', '.join(names)}" for n, names in sorted(threads.items()))
    out += ['', f"Measured on {'; '.join(sorted(machines))}; torch threads: {used}. Every table in full, with the "
            "load and commit of each run: `benchmarks/results/RESULTS.md`."]
    path = RESULTS/'SUMMARY.md'
    path.write_text('\n'.join(out) + '\n')
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
        kwargs = dict(mnist=args.mnist) if name in ('quality', 'peer') else {}
        res = module.run(quick=args.quick, devices=devs, **kwargs)
        res['seconds'] = time.perf_counter() - start
        print(f'{name}: {res["seconds"]:.0f} s -> {save(name, res, args.quick)}', flush=True)
        if name == 'peer': module.write_peer_md(load('peer'))  # its own page, PEER.md, as well as RESULTS.md
    print(f'tables -> {write_markdown()}, {summary_markdown()}')

if __name__ == '__main__': main()
