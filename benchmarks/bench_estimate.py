"""The run's cost estimate against the run: what `vqvae_nb train` says before training, and what each stage then took.

    python benchmarks/bench_estimate.py            # seven short runs (about 12 minutes on 2 idle cores), then the table
    python benchmarks/bench_estimate.py report     # the table from what is finished

Each case is `vqvae_nb train` as a user types it; its metrics.json holds the estimate made before training
(`estimated_seconds`, per stage) beside the measured time of each stage, so the two come from one process under the
same load. Run on an idle machine: the estimate measures this machine's speed when the run starts and cannot
foresee load that comes later. Resumable: a finished case is read back. Run folders go to
benchmarks/scratch/estimate/ (git-ignored); results to benchmarks/results/estimate.json and ESTIMATE.md. The data are
the IDX files under $VQVAE_NB_DATA (default ../shared/data next to the repository); without them only the digits
cases run. Not a test.
"""
from __future__ import annotations
import json, statistics, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, md_table, machine_line, data_dir, train_run, run_cases

RUNS_DIR = SCRATCH/'estimate'
STAGES = {'vqvae': 'vqvae_seconds', 'prior': 'prior_seconds', 'evaluation': 'eval_seconds'}

def idx(name:str, images:str, labels:str) -> list[str]:
    return ['--dataset', 'idx', '--images', str(data_dir()/name/images), '--labels', str(data_dir()/name/labels)]

MNIST = lambda: idx('mnist', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
CIFAR = lambda: idx('cifar10-subset', 'train-images-idx4-ubyte.gz', 'train-labels-idx1-ubyte.gz')

def pictures_at(side:int, count:int=600) -> list[str]:
    "A folder of `count` CIFAR-10 subset pictures enlarged to side×side PNG files, one sub-folder per class (made once)."
    folder = RUNS_DIR/f'pictures-{side}'
    if not folder.is_dir():
        from PIL import Image
        from vqvae_nb.data import IDXDataset
        d = data_dir()/'cifar10-subset'
        ds = IDXDataset(d/'train-images-idx4-ubyte.gz', d/'train-labels-idx1-ubyte.gz')
        for i in range(count):
            x, y = ds[i]
            (folder/f'class{int(y)}').mkdir(parents=True, exist_ok=True)
            picture = Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype('uint8'))
            picture.resize((side, side), Image.BICUBIC).save(folder/f'class{int(y)}'/f'{i}.png')
    return ['--images', str(folder)]

# each case: what it exercises, and its options (a function, so that missing data only skips the case)
CASES = {
    'digits': ('the default run, 8×8 digits at 28×28', lambda: []),
    'digits-k1024': ('a wide codebook: the prior\'s softmax over 1,024 codes', lambda: ['--num-codes', '1024', '--steps', '300', '--prior-steps', '150']),
    'mnist': ('MNIST, the data-adapted K = 128, short', lambda: MNIST() + ['--steps', '400', '--prior-steps', '300', '--classifier-steps', '200']),
    'cifar': ('CIFAR-10 subset, the colour profile, short', lambda: CIFAR() + ['--steps', '600', '--prior-steps', '150', '--classifier-steps', '200']),
    'colour-64': ('600 colour pictures of 64×64 in a folder: the 64×64 profile, short', lambda: pictures_at(64) + [
        '--steps', '150', '--prior-steps', '100', '--classifier-steps', '100', '--no-check-prior']),
    'colour-128': ('300 colour pictures of 128×128: the 128×128 profile, short', lambda: pictures_at(128, 300) + [
        '--image-size', '128', '--steps', '60', '--prior-steps', '40', '--classifier-steps', '100', '--no-check-prior']),
    'transformer': ('the transformer prior on MNIST', lambda: MNIST() + ['--prior', 'transformer', '--steps', '200', '--prior-steps', '200',
                                                                        '--classifier-steps', '100']),
}

def available(name:str) -> bool:
    needs = {'mnist': 'mnist', 'cifar': 'cifar10-subset', 'colour-64': 'cifar10-subset', 'colour-128': 'cifar10-subset', 'transformer': 'mnist'}.get(name)
    return needs is None or (data_dir()/needs).is_dir()

def run_case(name:str) -> dict:
    "Train case `name` unless finished; its estimated and measured seconds per stage."
    m = train_run(RUNS_DIR/name, CASES[name][1]())
    row = dict(case=name, what=CASES[name][0], run_id=m['run_id'], threads=m['threads'], notes=m['notes'])
    for stage, key in STAGES.items():
        row[f'{stage}_estimated'], row[f'{stage}_measured'] = m['estimated_seconds'][stage], m[key]
        row[f'{stage}_ratio'] = m[key] / m['estimated_seconds'][stage]
    row['total_estimated'] = sum(m['estimated_seconds'].values())
    row['total_measured'] = sum(m[k] for k in STAGES.values())
    row['total_ratio'] = row['total_measured'] / row['total_estimated']
    return row

def report(results:dict):
    rows = list(results['cases'].values())
    columns = dict(case='case', what='what it exercises', total_estimated='estimated (s)', total_measured='measured (s)',
                   total_ratio='measured / estimated', vqvae_ratio='VQ-VAE', prior_ratio='prior', evaluation_ratio='evaluation')
    ratios = [r['total_ratio'] for r in rows]
    lines = ['# The cost estimate against the run', '',
             'Each case is `vqvae_nb train`; the estimate is what the run printed before training (counted operations over '
             'the measured speed of training a convolution), the measurement each stage\'s own time. The last three columns '
             'are measured / estimated per stage: 1 is exact, 2 means the stage took twice as long as said.', '',
             md_table(rows, columns), '',
             f'Whole runs: measured / estimated from {min(ratios):.2f} to {max(ratios):.2f} (median {statistics.median(ratios):.2f}).', '',
             machine_line(results['machine'])]
    (RESULTS/'ESTIMATE.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__':
    if sys.argv[1:] != ['report']:
        for name in [n for n in CASES if not available(n)]: print(f'{name}: skipped, its data are not under {data_dir()}')
        run_cases('estimate', CASES, run_case, [n for n in CASES if available(n)])
    report(json.loads((RESULTS/'estimate.json').read_text()))
