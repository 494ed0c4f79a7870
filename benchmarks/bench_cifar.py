"""Colour photographs: the CIFAR-10 subset trained with nothing given but its files, and the paper's preset at a CPU length.

    python benchmarks/bench_cifar.py            # the three runs (about 40 minutes on 2 idle cores), then the report
    python benchmarks/bench_cifar.py report     # the tables and the pictures from what is finished

Resumable: a finished run folder is read back, not trained again; an interrupted one continues (`--resume`).
Each run is `vqvae_nb train` as a user types it, timed end to end; the held-out numbers are then measured again on
the 846 official test images, which neither run saw. Run folders go to benchmarks/scratch/cifar/ (git-ignored);
results to benchmarks/results/cifar.json, CIFAR.md and cifar_*.png. The data are the subset's IDX files under
$VQVAE_NB_DATA/cifar10-subset (default ../shared/data next to the repository). Not a test.
"""
from __future__ import annotations
import json, os, resource, shutil, subprocess, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, machine, md_table, fmt, machine_line
from vqvae_nb.run_folders import partial_folders

RUNS_DIR = SCRATCH/'cifar'
PAPER_BPD = 4.67   # section 4.1: the whole model's bits per dimension on CIFAR-10 (VQ-VAE with a PixelCNN prior)

def subset() -> Path:
    root = os.environ.get('VQVAE_NB_DATA') or Path(__file__).resolve().parents[1].parent/'shared'/'data'
    return Path(root).expanduser()/'cifar10-subset'

# what each run adds to the files: nothing for the defaults; the paper's preset cut to a CPU length
RUNS = {
    'defaults': dict(options=[], what='`vqvae_nb train --images … --labels …`: the colour data profile, nothing else given'),
    'logistic': dict(options=['--likelihood', 'logistic'],
                     what="the defaults with the decoder read as the discretized logistic of §4.1, so that the bits per dimension "
                          "are measured as the paper's"),
    'paper': dict(options=['--preset', 'paper-cifar10', '--steps', '500', '--batch-size', '32', '--prior-steps', '300',
                           '--prior-batch-size', '32', '--prior-layers', '4', '--prior-hidden', '32'],
                  what="`--preset paper-cifar10` (256 channels, an 8×8×10 field of K = 512, logistic likelihood) for 500 "
                       "steps of 32 (the paper: 250,000 of 128) and a smaller, shorter prior (4 layers of 32, 300 steps)"),
}

def child_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime

def train(name:str) -> dict|None:
    "Run `vqvae_nb train` for `name` unless its folder is finished; the wall and CPU seconds of this call (None when read back)."
    out = RUNS_DIR/name
    if (out/'metrics.json').is_file(): return None
    d = subset()
    cmd = [sys.executable, '-m', 'vqvae_nb.cli', 'train', '--images', str(d/'train-images-idx4-ubyte.gz'),
           '--labels', str(d/'train-labels-idx1-ubyte.gz'), *RUNS[name]['options'], '--out', str(out), '--quiet']
    if partial_folders(out): cmd.append('--resume')   # a killed run continues
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    print(f"{name}: {' '.join(cmd[2:])}", flush=True)
    start, cpu = time.time(), child_cpu()
    with open(RUNS_DIR/f'{name}.log', 'a') as log: subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    return dict(wall_seconds=time.time() - start, cpu_seconds=child_cpu() - cpu, load_average=os.getloadavg()[0])

def on_test_images(name:str) -> dict:
    "Held-out MSE and codes in use of the finished run `name` on the 846 official test images."
    from vqvae_nb.runs import load_run
    from vqvae_nb.data import IDXDataset
    run, d = load_run(RUNS_DIR/name), subset()
    test = IDXDataset(d/'test-images-idx4-ubyte.gz', d/'test-labels-idx1-ubyte.gz')
    model = run['vqvae'].eval()
    errors, codes = [], []
    with torch.no_grad():
        for start in range(0, len(test), 128):
            x = torch.stack([test[i][0] for i in range(start, min(start + 128, len(test)))])
            errors.append(((model.reconstruct(x) - x) ** 2).flatten(1).mean(1)); codes.append(model.encode(x).flatten())
    used = torch.cat(codes).unique().numel()
    return dict(test_images=len(test), test_mse=torch.cat(errors).mean().item(), test_codes_used=used)

def measure(name:str) -> dict:
    results = json.loads((RESULTS/'cifar.json').read_text()) if (RESULTS/'cifar.json').is_file() else {}
    timing = train(name)
    m = json.loads((RUNS_DIR/name/'metrics.json').read_text())
    row = results.get(name, {}) if results.get(name, {}).get('run_id') == m['run_id'] else {}
    if timing is not None: row.update(timing)
    row.update(run_id=m['run_id'], what=RUNS[name]['what'], **on_test_images(name),
               **{k: m.get(k) for k in ('recon_mse', 'codes_used', 'num_codes', 'perplexity', 'prior_nll_bits', 'bits_per_dim',
                                       'sample_accuracy', 'fd_samples', 'vqvae_seconds', 'prior_seconds',
                                       'total_seconds', 'threads', 'notes')},
               likelihood=m['config']['model']['likelihood'], field=m.get('latent_shape'), machine=machine())
    results[name] = row
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/'cifar.json').write_text(json.dumps(results, indent=1) + '\n')
    return row

def report():
    results = json.loads((RESULTS/'cifar.json').read_text())
    rows = [dict(run=n, **r, minutes=(r.get('wall_seconds') or r['total_seconds']) / 60,
                 cpu_minutes=r['cpu_seconds'] / 60 if r.get('cpu_seconds') else None, paper=PAPER_BPD) for n, r in results.items()]
    table = md_table(rows, dict(run='run', minutes='end to end (min)', cpu_minutes='CPU (min)', test_mse='MSE, 846 test images', recon_mse='MSE, held-out train split',
                                test_codes_used='codes used (test)', num_codes='K', bits_per_dim='bits/dim', likelihood='likelihood',
                                paper='paper bits/dim', sample_accuracy='samples read as their class'))
    lines = ['# Colour photographs: the CIFAR-10 subset', '',
             '4,660 real CIFAR-10 training images (4,194 train, 466 held out by the run) and the 846 official test images, 32×32 colour; '
             '`vqvae_nb train` on a CPU. The paper\'s 4.67 bits/dim is its whole model (VQ-VAE and PixelCNN prior) on the full '
             'CIFAR-10 after 250,000 steps on a GPU.', '', table, '']
    for n, r in results.items():
        lines += [f"- **{n}**: {r['what']}; {r['threads']} threads. Notes of the run: " + '; '.join(r.get('notes') or []) + '.']
        shutil.copyfile(RUNS_DIR/n/'reconstructions.png', RESULTS/f'cifar_{n}_reconstructions.png')
        lines += ['', f'![{n}: originals above, reconstructions below](cifar_{n}_reconstructions.png)', '']
    lines += ['', machine_line(next(iter(results.values()))['machine'])]
    (RESULTS/'CIFAR.md').write_text('\n'.join(lines) + '\n')
    print(table)

if __name__ == '__main__':
    if sys.argv[1:] != ['report']:
        for name in RUNS: print(name, {k: fmt(v) for k, v in measure(name).items() if k in ('test_mse', 'bits_per_dim', 'wall_seconds')}, flush=True)
    report()
