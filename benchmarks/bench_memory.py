"""Each stage's peak memory and time, from the run's own metrics.json: the MNIST default at two lengths (peak memory must
not grow with the number of steps), a CIFAR-10-sized colour run (50,000 pictures of 32×32×3, synthetic pixels: the
memory figure needs only their number and size) and the paper's preset.

    python benchmarks/bench_memory.py                 # every case not yet measured (the paper's preset: about 20 minutes of 2 idle cores)
    python benchmarks/bench_memory.py mnist colour    # only these
    python benchmarks/bench_memory.py report          # the table from what is finished

Each case is `vqvae_nb train` as a user types it; the peak of a stage is the process's resident set's high-water mark,
reset when the stage starts (Linux), so it includes the Python interpreter and PyTorch (about 0.5 GB). Resumable: a
finished case is read back. Run folders and the synthetic pictures go to benchmarks/scratch/memory/ (git-ignored);
results to benchmarks/results/memory.json and MEMORY.md. Needs the MNIST test files under $VQVAE_NB_DATA (default
../shared/data next to the repository) for the MNIST cases. Not a test.
"""
from __future__ import annotations
import json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, md_table, machine_line, data_dir, train_run, run_cases

RUNS_DIR = SCRATCH/'memory'
LIMIT = 3 * 2**30   # a 50,000-image colour run must fit in this

def mnist() -> list[str]:
    d = data_dir()/'mnist'
    return ['--dataset', 'idx', '--images', str(d/'t10k-images-idx3-ubyte.gz'), '--labels', str(d/'t10k-labels-idx1-ubyte.gz')]

def write_idx(path:Path, array:np.ndarray):
    "An uncompressed IDX file of unsigned bytes."
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(int(n).to_bytes(4, 'big') for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())

def colour_50000() -> list[str]:
    "50,000 colour 32×32 pictures of smooth random blobs with 10 labels, as IDX files (made once)."
    images, labels = RUNS_DIR/'colour-images.idx', RUNS_DIR/'colour-labels.idx'
    if not images.is_file():
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        coarse = rng.integers(0, 256, (50_000, 8, 8, 3), dtype=np.uint8)   # 4×4 blocks: pictures with some structure
        write_idx(images, coarse.repeat(4, axis=1).repeat(4, axis=2))
        write_idx(labels, rng.integers(0, 10, 50_000))
    return ['--dataset', 'idx', '--images', str(images), '--labels', str(labels)]

CASES = {
    'mnist-300': ('MNIST default, 300 + 200 steps', lambda: mnist() + ['--steps', '300', '--prior-steps', '200']),
    'mnist-900': ('MNIST default, 900 + 600 steps', lambda: mnist() + ['--steps', '900', '--prior-steps', '600']),
    'colour': ('50,000 colour 32×32 pictures, the colour profile, 100 + 50 steps',
               lambda: colour_50000() + ['--steps', '100', '--prior-steps', '50', '--classifier-steps', '100', '--no-check-prior']),
    'paper': ("the paper's preset on MNIST, 2 + 2 steps (its evaluation at full size)",
              lambda: mnist() + ['--preset', 'paper-cifar10', '--steps', '2', '--prior-steps', '2', '--no-check-prior']),
}

def run_case(name:str) -> dict:
    m = train_run(RUNS_DIR/name, CASES[name][1]())
    row = dict(case=name, what=CASES[name][0], num_train=m['num_train'], run_id=m['run_id'])
    for stage, s in m['stages'].items():
        row[f'{stage}_gib'] = s['peak_memory_bytes'] / 2**30 if s['peak_memory_bytes'] else None
        row[f'{stage}_s'] = s['seconds']
    row['peak_gib'] = max(v for k, v in row.items() if k.endswith('_gib') and v is not None)
    train = m['stages']['vqvae']['seconds'] + m['stages']['prior']['seconds']
    row['evaluation_share'] = m['stages']['evaluation']['seconds'] / train
    row['evaluation_over_training_gib'] = row['evaluation_gib'] - max(row['vqvae_gib'], row['prior_gib'])
    return row

def report(results:dict):
    rows = list(results['cases'].values())
    columns = dict(case='case', what='run', num_train='training images', data_gib='data', vqvae_gib='VQ-VAE', prior_gib='prior',
                   evaluation_gib='evaluation', pictures_gib='pictures', peak_gib='peak (GiB)', evaluation_s='evaluation (s)',
                   evaluation_share='evaluation / training time')
    lines = ['# Peak memory per stage', '',
             "Each stage's peak resident memory in GiB (the process's high-water mark, reset as the stage starts; the "
             "interpreter and PyTorch alone hold about 0.5 GiB), from the run's metrics.json.", '', md_table(rows, columns), '']
    if 'colour' in results['cases']:
        c = results['cases']['colour']
        lines += [f"The 50,000-picture colour run peaks at {c['peak_gib']:.2f} GiB: "
                  f"{'within' if c['peak_gib'] * 2**30 <= LIMIT else 'over'} the 3 GiB it must fit in.", '']
    if {'mnist-300', 'mnist-900'} <= results['cases'].keys():
        a, b = results['cases']['mnist-300']['peak_gib'], results['cases']['mnist-900']['peak_gib']
        lines += [f'Three times the steps: peak {a:.2f} → {b:.2f} GiB.', '']
    lines += [machine_line(results['machine'])]
    (RESULTS/'MEMORY.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__':
    if sys.argv[1:] != ['report']: run_cases('memory', CASES, run_case, sys.argv[1:])
    report(json.loads((RESULTS/'memory.json').read_text()))
