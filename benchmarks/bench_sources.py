"""The sources' results at their own scale: the TFP and Keras presets for their full training, and the CelebA study's grid.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_sources.py tfp      # about 2.5 hours of one core
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_sources.py keras
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_sources.py study    # two sweeps of 8 points, about 2 hours
    python benchmarks/bench_sources.py report                                # tables and pictures from what is finished

Every part is resumable: a finished run folder (its metrics.json for the expected steps) is read back, not trained
again; a killed `vqvae_nb train` is continued with --resume from its last checkpoint; a sweep continues point by point. Run folders go to
benchmarks/scratch/sources/ (git-ignored); results to benchmarks/results/sources.json, SOURCES.md and sources_*.png.
The data are the IDX files under $VQVAE_NB_DATA (default ../shared/data next to the repository). Not a test.
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, machine, md_table, fmt, data_dir

RUNS_DIR = SCRATCH/'sources'
RESULTS_FILE = RESULTS/'sources.json'

# each source's run: the preset, its data (IDX files: 90% to train, 10% held out) and the length of its training
SOURCE_RUNS = {
    'tfp': dict(preset='tfp-kmnist', images='kmnist/t10k-images-idx3-ubyte.gz', labels='kmnist/t10k-labels-idx1-ubyte.gz',
                steps=18_740, source='000', length='the post\'s 20 epochs of 937 batches of 64',
                pictures=dict(uniform_samples="decoded from uniformly random codes: the post's figure", reconstructions='held-out reconstructions',
                              code_maps='held-out images grouped by the code they took', codebook_tsne='the codebook by t-SNE',
                              prior_samples='samples from the learned prior (random classes)',
                              samples='class-conditional samples, one row per class, with how many of each row the classifier read as their class',
                              curves='training curves')),
    'keras': dict(preset='keras-mnist', images='mnist/t10k-images-idx3-ubyte.gz', labels='mnist/t10k-labels-idx1-ubyte.gz',
                  steps=9_380, source='002', length='the notebook\'s 20 epochs of 469 batches of 128',
                  pictures=dict(reconstructions='held-out reconstructions, each with its MSE', codebook_tsne='the codebook by t-SNE',
                                uniform_samples='decoded from uniformly random code maps', prior_samples='samples from the learned prior',
                                prior_predictions="the source's figure: held-out code maps, the prior's teacher-forced argmax codes (misses in red) and what both decode to",
                                code_maps='held-out code maps', curves='training curves')),
}

def train_command(name:str) -> list[str]:
    "The `vqvae_nb train` command line of one source's run."
    r, d = SOURCE_RUNS[name], data_dir()
    return [sys.executable, '-m', 'vqvae_nb.cli', 'train', '--preset', r['preset'], '--dataset', 'idx',
            '--images', str(d/r['images']), '--labels', str(d/r['labels']), '--steps', str(r['steps']),
            '--out', str(RUNS_DIR/name), '--quiet', '--no-check-prior']   # a weak prior is reported beside the codes' frequencies, not refused

def finished_run(name:str) -> dict|None:
    "The metrics of a finished run of `name` at its full length, or None."
    try: m = json.loads((RUNS_DIR/name/'metrics.json').read_text())
    except (OSError, ValueError): return None
    return m if m['config']['fit']['steps'] == SOURCE_RUNS[name]['steps'] else None

def child_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime

def interrupted(name:str) -> bool:
    "Whether run `name` has something to continue: a partial folder a killed run left, or a shorter finished run."
    from vqvae_nb.run_folders import find_partial
    out = RUNS_DIR/name
    return find_partial(out) is not None or (out/'vqvae.pt').is_file()

def ensure_run(name:str) -> dict:
    "Train source run `name` unless it is finished (continuing an interrupted one); its metrics, with the CPU seconds of its process (`cpu.json` beside it)."
    cpu_file = RUNS_DIR/f'{name}.cpu.json'
    m = finished_run(name)
    if m is None:
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        resumed = interrupted(name)
        cmd = train_command(name) + (['--resume'] if resumed else [])
        print(f"{name}: training ({' '.join(cmd[2:])})", flush=True)
        start, cpu0, t0 = datetime.now(timezone.utc), child_cpu(), time.time()
        with open(RUNS_DIR/f'{name}.log', 'a') as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True,
                           env={**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1')})
        m = finished_run(name)
        cpu = dict(run_id=m['run_id'], cpu_seconds=child_cpu() - cpu0, wall_seconds=time.time() - t0,
                   started=start.strftime('%Y-%m-%d %H:%M UTC'), threads=int(os.environ.get('OMP_NUM_THREADS', '1')), resumed=resumed,
                   machine=machine())
        cpu_file.write_text(json.dumps(cpu, indent=1) + '\n')
    cpu = json.loads(cpu_file.read_text()) if cpu_file.is_file() else {}
    return dict(m, process=cpu if cpu.get('run_id') == m['run_id'] else None)


# ---------------------------------------------------------------- results file and pictures

def load_results() -> dict:
    return json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.is_file() else {}

def save_part(name:str, part:dict) -> None:
    "Write one part of sources.json (the others kept), then SOURCES.md from all of them."
    results = load_results()
    results[name] = part
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS_FILE.with_suffix('.tmp')
    tmp.write_text(json.dumps(results, indent=1) + '\n')
    os.replace(tmp, RESULTS_FILE)
    write_markdown(results)

MAX_PICTURE_BYTES = 300_000

def keep_picture(src, name:str) -> str|None:
    "Copy a PNG to results/sources_NAME.png, palette-reduced (and halved while still large) to stay small; its file name."
    from PIL import Image
    src = Path(src)
    if not src.is_file(): return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    dst = RESULTS/f'sources_{name}.png'
    image = Image.open(src).convert('RGB')
    while True:
        image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
        if dst.stat().st_size <= MAX_PICTURE_BYTES or image.width < 400: return dst.name
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)

def save_figure(fig, name:str) -> str:
    "Save a matplotlib figure through `keep_picture`; its file name."
    import matplotlib.pyplot as plt
    tmp = RUNS_DIR/f'.{name}.png'
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(tmp, dpi=100, bbox_inches='tight'); plt.close(fig)
    return keep_picture(tmp, name)

def keep_run_pictures(name:str) -> dict:
    "The run folder's pictures that SOURCES.md shows, kept under results/: {picture: file name}."
    kept = {pic: keep_picture(RUNS_DIR/name/f'{pic}.png', f'{name}_{pic}') for pic in SOURCE_RUNS[name]['pictures']}  # those it lacks: None
    return {k: v for k, v in kept.items() if v}

# ---------------------------------------------------------------- measures of a finished run

def run_data(metrics:dict) -> tuple:
    "The (training, held-out) images of a run, split as the run split them."
    from vqvae_nb.config import RunConfig
    from vqvae_nb.plan import load_data
    return load_data(RunConfig.from_dict(metrics['config']))

def tensors(ds) -> tuple:
    "All images (N, C, H, W) in [0, 1] and labels (N,) of a dataset."
    import torch
    xs, ys = zip(*torch.utils.data.DataLoader(ds, batch_size=1024))
    return torch.cat(xs).float(), torch.cat(ys)

RUN_KEYS = ('recon_mse', 'perplexity', 'codes_used', 'num_codes', 'prior_nll_bits', 'prior_accuracy', 'bits_per_dim',
            'sample_accuracy', 'classifier_heldout_accuracy', 'fd_samples', 'fd_reconstructions', 'fd_train_heldout', 'n_samples',
            'vqvae_seconds', 'prior_seconds', 'eval_seconds', 'total_seconds', 'conditional', 'latent_shape', 'num_train',
            'num_valid', 'run_id', 'created')

def run_summary(name:str, m:dict) -> dict:
    "What every source's part records: the command, the run's own metrics, its process's CPU time, the machine."
    r, c = SOURCE_RUNS[name], m['config']
    return dict(source=r['source'], length=r['length'], preset=r['preset'], command=' '.join(['vqvae_nb'] + train_command(name)[3:]).replace(str(data_dir()), '$VQVAE_NB_DATA').replace(str(Path(__file__).parent) + '/', 'benchmarks/'),
                steps=c['fit']['steps'], batch_size=c['fit']['batch_size'], lr=c['fit']['lr'],
                prior=dict(kind=c['prior']['kind'], steps=c['prior']['fit']['steps'], batch_size=c['prior']['fit']['batch_size'], lr=c['prior']['fit']['lr']),
                model={k: m['vqvae_config'][k] for k in ('arch', 'num_codes', 'code_dim', 'quantizer', 'beta', 'likelihood')},
                metrics={k: m.get(k) for k in RUN_KEYS}, process=m.get('process'), threads=m.get('threads'), machine=machine())

def tfp_likelihood(run:dict, train_ds, valid_ds) -> dict:
    "Held-out likelihoods of the TFP run: the post's Bernoulli loss on the grey images, and a true NLL of the images binarised at 1/2."
    import math, torch
    import torch.nn.functional as F
    from vqvae_nb.sampling import bits_per_dim, code_log_prob
    from vqvae_nb.prior import encode_dataset, prior_nll_bits, unigram_bits
    vq, prior, K = run['vqvae'], run['prior'], run['vqvae'].config.num_codes
    x, y = tensors(valid_ds)
    dims, ln2 = x[0].numel(), math.log(2)
    with torch.no_grad():
        logits = vq(x)[0].float()
        grey = F.binary_cross_entropy_with_logits(logits, x, reduction='none').flatten(1).sum(1).mean().item()
        floor = F.binary_cross_entropy(x, x, reduction='none').flatten(1).sum(1).mean().item()  # the grey pixels' own entropy
    binary = bits_per_dim(vq, prior, torch.utils.data.TensorDataset((x > 0.5).float(), y), details=True)
    codes, train_codes = encode_dataset(vq, valid_ds)[0], encode_dataset(vq, train_ds)[0]
    marginal = float(-code_log_prob(prior, codes, None, 'marginal').mean()) / ln2 / codes[0].numel()
    return dict(grey_bce_nats=grey, grey_entropy_nats=floor, grey_bce_bits_per_dim=grey / (dims * ln2),
                binary_nll_nats=binary['bits_per_dim'] * dims * ln2, binary_decoder_nats=binary['decoder_bits_per_dim'] * dims * ln2,
                binary_prior_nats=binary['prior_bits_per_dim'] * dims * ln2, binary_bits_per_dim=binary['bits_per_dim'],
                prior_bits_given_class=prior_nll_bits(prior, codes, y), prior_bits_marginal=marginal,
                unigram_bits=unigram_bits(train_codes, codes, K), uniform_bits=math.log2(K))

def part_tfp() -> dict:
    from vqvae_nb.runs import load_run
    m = ensure_run('tfp')
    train_ds, valid_ds = run_data(m)
    part = dict(run_summary('tfp', m), likelihood=tfp_likelihood(load_run(RUNS_DIR/'tfp'), train_ds, valid_ds),
                pictures=keep_run_pictures('tfp'))
    save_part('tfp', part)
    return part

def prior_predictions(run:dict, valid_ds) -> tuple:
    "Held-out code maps, the prior's most likely code at each position given the true codes before it (teacher-forced), and the labels."
    import torch
    from vqvae_nb.prior import encode_dataset
    codes, labels = encode_dataset(run['vqvae'], valid_ds)
    y = labels if run['num_classes'] else None
    with torch.no_grad():
        pred = torch.cat([run['prior'](c, None if y is None else y[i:i + 256]).argmax(1)
                          for i, c in zip(range(0, len(codes), 256), codes.split(256))])
    return codes, pred, y

def plot_prior_predictions(run:dict, valid_ds, codes, pred, n:int=6):
    "The source's figure of held-out codes: per image, its true code map, the prior's teacher-forced argmax codes (misses in red) and what each decodes to."
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from vqvae_nb.sampling import decode_codes
    x = tensors(torch_subset(valid_ds, n))[0]
    true_img, pred_img = decode_codes(run['vqvae'], codes[:n]), decode_codes(run['vqvae'], pred[:n])
    K, titles = run['vqvae'].config.num_codes, ('held-out image', 'its codes', "prior's argmax codes", 'decoded: true codes', 'decoded: argmax codes')
    fig, axs = plt.subplots(n, 5, figsize=(9.5, 1.95 * n))
    for i in range(n):
        right = (codes[i] == pred[i]).float().mean().item()
        for j, (ax, img) in enumerate(zip(axs[i], (x[i], None, None, true_img[i], pred_img[i]))):
            ax.set_xticks([]); ax.set_yticks([])
            if i == 0: ax.set_title(titles[j], fontsize=9)
            if img is not None: ax.imshow(img.permute(1, 2, 0).squeeze(-1).cpu(), cmap='gray', vmin=0, vmax=1); continue
            m = codes[i] if j == 1 else pred[i]
            ax.imshow(m, cmap='tab10' if K <= 10 else 'viridis', vmin=0, vmax=9 if K <= 10 else K - 1)
            for (r, c), k in zip(((r, c) for r in range(m.shape[0]) for c in range(m.shape[1])), m.flatten().tolist()):
                miss = j == 2 and k != codes[i][r, c]
                ax.text(c, r, str(k), ha='center', va='center', fontsize=7, color='red' if miss else 'w', weight='bold',
                        path_effects=[patheffects.withStroke(linewidth=1.5, foreground='w' if miss else 'k')])
            if j == 2: ax.set_xlabel(f'{right:.0%} right', fontsize=8)
    fig.suptitle("the prior's most likely code at each position given the true codes before it", fontsize=10)
    fig.tight_layout()
    return fig

def torch_subset(ds, n:int):
    import torch
    return torch.utils.data.Subset(ds, range(min(n, len(ds))))

def part_keras() -> dict:
    from vqvae_nb.runs import load_run
    from vqvae_nb.prior import prior_nll_bits
    m = ensure_run('keras')
    _, valid_ds = run_data(m)
    run = load_run(RUNS_DIR/'keras')
    codes, pred, y = prior_predictions(run, valid_ds)
    pictures = dict(keep_run_pictures('keras'), prior_predictions=save_figure(plot_prior_predictions(run, valid_ds, codes, pred), 'keras_prior_predictions'))
    per_image = (codes == pred).float().flatten(1).mean(1)
    part = dict(run_summary('keras', m), pictures=pictures,
                predictions=dict(top1_accuracy=(codes == pred).float().mean().item(), per_image_median=per_image.median().item(),
                                 images_all_right=(per_image == 1).float().mean().item(), positions=int(codes[0].numel()),
                                 prior_bits=prior_nll_bits(run['prior'], codes, y), n_images=len(codes)))
    save_part('keras', part)
    return part

# ---------------------------------------------------------------- the CelebA study (source 003) on the CIFAR-10 subset

CIFAR = dict(images='cifar10-subset/train-images-idx4-ubyte.gz', labels='cifar10-subset/train-labels-idx1-ubyte.gz')
STUDY_FACTORS = ('beta=0.25,0.75,1.25,1.75', 'lr=0.001,0.0001,0.00001', 'num-codes=128,256,512')
STUDY_BASE = dict(steps=10_000, beta=1.25, lr=1e-3, num_codes=512)  # the source's best setting: the centre of its figures
STUDY_WIDTHS = dict(hidden=32, batch_size=64, code_dim=32)          # chosen from `study --measure`, for WIDTH_CHOICE
WIDTH_CHOICE = ("hidden 32, batch 64, code_dim 32: the widest setting whose 16 points fit the two hours (45 CPU ms a step, 2.0 CPU "
                "hours). Of the two settings near the budget it takes the larger batch over the wider network, because "
                "`saturation_step` reads the perplexity of training batches: 64 images hold 4,096 latents, whose perplexity can "
                "reach about 480 of K = 512 with every code used evenly, where 2,048 latents reach about 450. After 300 steps "
                "the candidates' held-out error and perplexity did not yet tell them apart.")
STUDY_SEEDS = (0, 1)
WIDTH_CANDIDATES = ((32, 32, 32), (64, 32, 64), (32, 64, 32), (64, 64, 64), (128, 32, 64))  # (hidden, batch, code_dim)

def study_options(widths:dict=STUDY_WIDTHS, **changes) -> dict:
    "The sweep's base setting as `make_config`'s flat options: the CIFAR-10 subset, the source's centre, the widths."
    d = data_dir()
    return dict(dataset='idx', images=str(d/CIFAR['images']), labels=str(d/CIFAR['labels']), **STUDY_BASE, **widths) | changes

def study_folder(seed:int) -> Path: return RUNS_DIR/f'study-seed{seed}'

def sweep_command(seed:int) -> list[str]:
    cmd = [sys.executable, '-m', 'vqvae_nb.cli', 'sweep']
    for f in STUDY_FACTORS: cmd += ['--vary', f]
    for k, v in study_options(seed=seed).items(): cmd += [f"--{k.replace('_', '-')}", str(v)]
    return cmd + ['--out', str(study_folder(seed)), '--quiet']

def measure_widths(steps:int=300) -> dict:
    "CPU seconds per step of the study's base point (K=512) at a few widths, each measured once (kept in sources.json)."
    import shutil, torch
    from vqvae_nb.sweep import sweep_config, point_data, train_point
    part = load_results().get('study_widths') or dict(steps=steps, rows=[])
    for hidden, batch, dim in WIDTH_CANDIDATES:
        if any((r['hidden'], r['batch_size'], r['code_dim']) == (hidden, batch, dim) for r in part['rows']): continue
        widths = dict(hidden=hidden, batch_size=batch, code_dim=dim)
        folder = RUNS_DIR/'widths'/f'h{hidden}-b{batch}-d{dim}'
        shutil.rmtree(folder, ignore_errors=True); folder.mkdir(parents=True)
        row = train_point(point_data(sweep_config(study_options(widths, steps=steps))), folder, device='cpu')
        ms = 1000 * row['cpu_seconds'] / steps
        part['rows'].append(dict(widths, cpu_ms_per_step=ms, study_cpu_hours=len(STUDY_SEEDS) * 8 * STUDY_BASE['steps'] * ms / 3.6e6,
                                 recon_mse=row['recon_mse'], perplexity=row['perplexity'], threads=torch.get_num_threads()))
        print(f"widths {widths}: {ms:.0f} CPU ms per step", flush=True)
        part['machine'] = machine()
        save_part('study_widths', part)
    return part

def read_sweep(seed:int) -> dict|None:
    try: return json.loads((study_folder(seed)/'sweep.json').read_text())
    except (OSError, ValueError): return None

def point_key(point:dict) -> tuple: return tuple(sorted(point.items()))

SOURCE_SATURATION = {128: 2000, 256: 5500, 512: 6000}  # source 003: iterations to the highest perplexity, by K

def study_points() -> list[dict]:
    "Every point of the study with each seed's row (as far as the sweeps have got) and the seeds' means."
    by_point = {}
    for seed in STUDY_SEEDS:
        for r in (read_sweep(seed) or {}).get('points', []):
            by_point.setdefault(point_key(r['point']), dict(point=r['point'], seeds={}))['seeds'][seed] = r
    out = []
    for p in by_point.values():
        rows = list(p['seeds'].values())
        mean = lambda k: sum(r[k] for r in rows) / len(rows) if all(r.get(k) is not None for r in rows) else None
        out.append(dict(p, **{k: mean(k) for k in ('saturation_step', 'perplexity', 'recon_mse', 'codes_used', 'train_recon', 'cpu_seconds')},
                        max_train_perplexity=sum(max(r['curves']['perplexity']) for r in rows) / len(rows)))
    return out

def _one_factor(points:list, name:str) -> list:
    "The points that differ from the base in factor `name` alone, by its value."
    base = dict(beta=STUDY_BASE['beta'], lr=STUDY_BASE['lr'], num_codes=STUDY_BASE['num_codes'])
    return sorted((p for p in points if all(p['point'][k] == v for k, v in base.items() if k != name)), key=lambda p: p['point'][name])

def later_claim(points:list, name:str, increasing:bool, text:str) -> dict:
    "Whether saturation comes later along factor `name` (increasing or decreasing values), on the seeds' mean and in each seed."
    line = _one_factor(points, name)
    if not increasing: line = line[::-1]
    values = [p['point'][name] for p in line]
    ordered = lambda steps: all(a < b for a, b in zip(steps, steps[1:]))
    mean = [p['saturation_step'] for p in line]
    per_seed = {s: [p['seeds'][s]['saturation_step'] for p in line] for s in STUDY_SEEDS if all(s in p['seeds'] for p in line)}
    complete = len(line) == len(FACTOR_VALUES[name]) and len(per_seed) == len(STUDY_SEEDS)
    verdict = ('pending' if not complete else 'reproduced' if all(map(ordered, per_seed.values())) else
               'reproduced on the mean, not in every seed' if ordered(mean) else 'not reproduced')
    return dict(claim=text, factor=name, values=values, saturation_mean=mean, saturation_by_seed=per_seed, verdict=verdict)

FACTOR_VALUES = dict(beta=[0.25, 0.75, 1.25, 1.75], lr=[1e-3, 1e-4, 1e-5], num_codes=[128, 256, 512])

def base_claims(points:list) -> list:
    "The source's numbers at its best setting (K=512, beta 1.25, lr 1e-3): perplexity above 400, error near 1e-3 by about 4,000 iterations."
    base = next((p for p in points if p['point'] == dict(beta=STUDY_BASE['beta'], lr=STUDY_BASE['lr'], num_codes=STUDY_BASE['num_codes'])), None)
    if base is None or len(base['seeds']) < len(STUDY_SEEDS): return [dict(claim='perplexity above 400 at K=512', verdict='pending'),
                                                                    dict(claim='error near 1e-3 (by about 4,000 iterations)', verdict='pending')]
    def at(r, step):
        c = r['curves']; i = min(range(len(c['step'])), key=lambda j: abs(c['step'][j] - step)); return c['recon'][i]
    err4k = sum(at(r, 4000) for r in base['seeds'].values()) / len(base['seeds'])
    return [dict(claim='perplexity above 400 at K=512', held_out_perplexity=base['perplexity'], max_train_perplexity=base['max_train_perplexity'],
                 verdict='reproduced' if base['perplexity'] > 400 else 'not reproduced'),
            dict(claim='error near 1e-3 (by about 4,000 iterations)', train_error_at_4000=err4k, train_error_at_end=base['train_recon'],
                 held_out_mse=base['recon_mse'], verdict='reproduced' if 0.5e-3 <= err4k <= 2e-3 else 'not reproduced')]

def study_claims(points:list) -> list:
    return [later_claim(points, 'num_codes', True, 'a larger K saturates later (about 2,000 / 5,500 / 6,000 iterations for K = 128 / 256 / 512)'),
            later_claim(points, 'beta', True, 'a larger beta saturates later'),
            later_claim(points, 'lr', False, 'a lower learning rate saturates later'), *base_claims(points)]

def plot_study(points:list):
    "The study's curves, both seeds (seed 0 solid, seed 1 dashed), saturation steps marked; the source's K saturation steps dotted."
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(2, 3, figsize=(13, 6.4), squeeze=False)
    for j, name in enumerate(('num_codes', 'beta', 'lr')):
        for i, p in enumerate(_one_factor(points, name)):
            v, colour = p['point'][name], f'C{i}'
            for s, r in sorted(p['seeds'].items()):
                c, style = r['curves'], '-' if s == 0 else '--'
                base = v == STUDY_BASE[name]
                label = (f'{v:g}' + (' (base)' if base else '') + (f", {p['saturation_step']:,.0f}" if p['saturation_step'] is not None else '')) if s == 0 else None
                axs[0, j].plot(c['step'], c['recon'], style, color=colour, lw=1)
                axs[1, j].plot(c['step'], c['perplexity'], style, color=colour, lw=1, label=label)
                if r.get('saturation_step') is not None:
                    k = min(range(len(c['step'])), key=lambda t: abs(c['step'][t] - r['saturation_step']))
                    axs[1, j].plot(c['step'][k], c['perplexity'][k], 'o', color=colour, ms=4)
            if name == 'num_codes' and v in SOURCE_SATURATION: axs[1, j].axvline(SOURCE_SATURATION[v], color=colour, ls=':', lw=1)
        axs[0, j].set_yscale('log'); axs[0, j].set_title(f'{name}: reconstruction error (training batches)', fontsize=9)
        axs[1, j].set_title(f'{name}: perplexity (training batches)', fontsize=9); axs[1, j].set_xlabel('iteration')
        axs[1, j].legend(fontsize=7, title=name + ' (mean saturation step)', title_fontsize=7)
        for ax in axs[:, j]: ax.grid(alpha=0.3)
    fig.suptitle('CelebA study grid on the CIFAR-10 subset: seed 0 solid, seed 1 dashed; dots: saturation steps; '
                 "dotted: the source's saturation for K", fontsize=10)
    fig.tight_layout()
    return fig

N_POINTS = 1 + 3 + 2 + 2   # the base point, then the other values of beta, lr and K one at a time

def study_summary() -> dict:
    points = study_points()
    part = dict(source='003 (CelebA re-implementation): one factor at a time around K=512, beta 1.25, lr 1e-3; 10,000 iterations',
                commands=[' '.join(['vqvae_nb'] + sweep_command(s)[3:]).replace(str(data_dir()), '$VQVAE_NB_DATA').replace(str(Path(__file__).parent) + '/', 'benchmarks/') for s in STUDY_SEEDS],
                widths=STUDY_WIDTHS, points_done={s: len((read_sweep(s) or {}).get('points', [])) for s in STUDY_SEEDS},
                points=[{k: v for k, v in p.items() if k != 'seeds'} | dict(
                    seeds={s: {k: r.get(k) for k in ('saturation_step', 'perplexity', 'recon_mse', 'codes_used', 'train_recon', 'cpu_seconds', 'seconds')}
                           for s, r in p['seeds'].items()}) for p in points],
                cpu_seconds=sum(r['cpu_seconds'] for p in points for r in p['seeds'].values()),
                claims=study_claims(points), threads=int(os.environ.get('OMP_NUM_THREADS', '0')) or None, machine=machine())
    if points: part['pictures'] = dict(curves=save_figure(plot_study(points), 'study_curves'))
    return part

def part_study() -> dict:
    for seed in STUDY_SEEDS:
        if len((read_sweep(seed) or {}).get('points', [])) == N_POINTS and (study_folder(seed)/'curves.png').is_file(): continue
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        print(f"study seed {seed}: sweeping into {study_folder(seed)}", flush=True)
        with open(RUNS_DIR/f'study-seed{seed}.log', 'a') as log:
            subprocess.run(sweep_command(seed), stdout=log, stderr=subprocess.STDOUT, check=True,
                           env={**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1')})
        save_part('study', study_summary())
    part = study_summary()
    save_part('study', part)
    return part

# ---------------------------------------------------------------- SOURCES.md

def conditions(part:dict) -> str:
    "The line under a table: command, machine, threads, CPU and wall time, date."
    m, proc = part['machine'], part.get('process') or {}
    span = 'the last, resumed part of the command (an interrupted start came before it)' if proc.get('resumed') else 'the whole command'
    cpu = f"{proc['cpu_seconds']:,.0f} CPU seconds ({proc['cpu_seconds'] / 3600:.1f} h) and {proc['wall_seconds'] / 3600:.1f} h of wall time for {span}, " if proc else ''
    when = proc.get('started', m['date'])
    pm = proc.get('machine', m)
    return (f"*`{part['command']}`: {cpu}{pm['torch_threads']} torch thread(s) (OMP_NUM_THREADS={proc.get('threads', '?')}), "
            f"{pm['cpu']}, {pm['cores']} cores shared with other jobs (load average {pm['load_avg_1min']} at the end), torch {pm['torch']}, "
            f"commit {pm['commit']}, started {when}.*")

def pictures_md(part:dict, captions:dict) -> str:
    pics = part.get('pictures') or {}
    return '\n'.join(f"![{text}]({pics[k]})\n*{text}*\n" for k, text in captions.items() if pics.get(k))

def run_section(name:str, title:str, part:dict, description:str, rows:list) -> str:
    "A source run's section: its title, what was run, a table of (measure, value) `rows` with the run's times, the conditions, the pictures."
    m = part['metrics']
    rows = rows + [('seconds (wall): VQ-VAE / prior / evaluation', ' / '.join(fmt(m[k]) for k in ('vqvae_seconds', 'prior_seconds', 'eval_seconds')))]
    model = part['model']
    trained = (f"`--preset {part['preset']}`: {model['arch']} layout, K = {model['num_codes']}, D = {model['code_dim']}, {model['quantizer']} "
               f"codebook, beta {model['beta']:g}; {part['steps']:,} steps of batch {part['batch_size']} at lr {part['lr']:g} ({part['length']}); ")
    table = md_table([dict(what=a, value=b) for a, b in rows], dict(what='measure', value='value'))
    return (f"## {title} (source {part['source']})\n\n{trained}{description} Held-out images throughout: {m['num_train']:,} to train, "
            f"{m['num_valid']:,} held out.\n\n{table}\n\n{conditions(part)}\n\n{pictures_md(part, SOURCE_RUNS[name]['pictures'])}")

def tfp_markdown(t:dict) -> str:
    m, L = t['metrics'], t['likelihood']
    rows = [('codes in use / K', f"{m['codes_used']} / {m['num_codes']}"), ('perplexity of the held-out codes', fmt(m['perplexity'])),
            ('held-out MSE of the decoded mean (the sigmoid of the logits)', fmt(m['recon_mse'])),
            ("Bernoulli cross-entropy of the grey held-out images (the post's reconstruction loss), nats per image",
             f"{fmt(L['grey_bce_nats'])} (the pixels' own entropy: {fmt(L['grey_entropy_nats'])}; {fmt(L['grey_bce_bits_per_dim'])} bits/dim)"),
            ('held-out images binarised at 1/2: −log p(x) = decoder + prior, nats per image',
             f"{fmt(L['binary_nll_nats'])} = {fmt(L['binary_decoder_nats'])} + {fmt(L['binary_prior_nats'])}"),
            ('… in bits/dim', fmt(L['binary_bits_per_dim'])),
            ("prior's held-out bits per code: given the class / marginal over classes",
             f"{fmt(L['prior_bits_given_class'])} / {fmt(L['prior_bits_marginal'])} (code frequencies alone: {fmt(L['unigram_bits'])}; uniform: {fmt(L['uniform_bits'])})"),
            ("prior's top-1 accuracy on held-out codes (given the class)", f"{m['prior_accuracy']:.1%}"),
            ('class-conditional samples the classifier reads as their class', f"{m['sample_accuracy']:.1%} of {m['n_samples']:,} (held-out images: {m['classifier_heldout_accuracy']:.1%})"),
            ('Fréchet distance to held-out images: samples / reconstructions / training images', ' / '.join(fmt(m[k]) for k in ('fd_samples', 'fd_reconstructions', 'fd_train_heldout')))]
    return run_section('tfp', 'TFP VQ-VAE on Kuzushiji-MNIST at its length', t,
                       f"one code per image, Bernoulli decoder; then our class-conditional Gated PixelCNN prior over the code "
                       f"({t['prior']['steps']:,} steps of batch {t['prior']['batch_size']}). The KMNIST test set as IDX files.", rows)

def keras_markdown(k:dict) -> str:
    m, pr = k['metrics'], k['predictions']
    rows = [('held-out MSE', fmt(m['recon_mse'])), ('codes in use / K', f"{m['codes_used']} / {m['num_codes']}"),
            ('perplexity of the held-out codes', fmt(m['perplexity'])), ("prior's held-out bits per code (unconditional)", fmt(pr['prior_bits'])),
            ("prior's top-1 accuracy on held-out codes (teacher-forced argmax)",
             f"{pr['top1_accuracy']:.1%} of {pr['n_images']:,} × {pr['positions']} positions (median image {pr['per_image_median']:.0%}; every position right in {pr['images_all_right']:.1%} of images)"),
            ('bits/dim (discretised Gaussian decoder + prior)', fmt(m['bits_per_dim']))]
    return run_section('keras', 'Keras VQ-VAE on MNIST at its length', k,
                       f"7×7 codes; then the unconditional Gated PixelCNN prior, {k['prior']['steps']:,} steps of batch {k['prior']['batch_size']} "
                       f"at lr {k['prior']['lr']:g}. The MNIST test set as IDX files.", rows)

def widths_markdown(w:dict) -> str:
    cols = dict(hidden='hidden', batch_size='batch', code_dim='code_dim', cpu_ms_per_step='CPU ms per step',
                study_cpu_hours='whole study, CPU hours', recon_mse=f"held-out MSE after {w['steps']} steps", perplexity='perplexity')
    return (f"### Choosing the widths\n\nThe study's base point (K = 512, beta 1.25, lr 1e-3) trained {w['steps']} steps at each width "
            f"(one thread, {w['machine']['date']}; CPU time of the process, evaluation included), and the whole study's "
            f"{len(STUDY_SEEDS) * N_POINTS} × {STUDY_BASE['steps']:,} steps extrapolated:\n\n" + md_table(w['rows'], cols)
            + f"\n\nChosen: {WIDTH_CHOICE}")

def study_markdown(st:dict, widths:dict|None) -> str:
    claims = [dict(claim=c['claim'], ours=claim_numbers(c), verdict=c['verdict']) for c in st['claims']]
    rows = []
    for p in sorted(st['points'], key=lambda p: (p['point']['num_codes'], p['point']['beta'], -p['point']['lr'])):
        s = p['seeds']
        both = lambda k: ' / '.join(fmt(s[x].get(k)) for x in sorted(s))
        rows.append(dict(K=p['point']['num_codes'], beta=p['point']['beta'], lr=f"{p['point']['lr']:g}", sat=p['saturation_step'], sat_s=both('saturation_step'),
                         ppl=p['perplexity'], ppl_s=both('perplexity'), mse=p['recon_mse'], mse_s=both('recon_mse'), codes=p['codes_used'], cpu=p['cpu_seconds']))
    cols = dict(K='K', beta='beta', lr='lr', sat='saturation step (mean)', sat_s='… per seed', ppl='held-out perplexity (mean)', ppl_s='… per seed',
                mse='held-out MSE (mean)', mse_s='… per seed', codes='codes used (mean)', cpu='CPU s per point')
    w = st['widths']
    done = ', '.join(f"seed {s}: {n}/{N_POINTS}" for s, n in st['points_done'].items())
    return ("## The CelebA study's grid at its length, on colour images (source 003)\n\n"
            f"`vqvae_nb sweep` one factor at a time around the source's best setting (K = 512, beta 1.25, lr 1e-3): beta 0.25 / 0.75 / 1.25 / 1.75, "
            f"lr 1e-3 / 1e-4 / 1e-5, K 128 / 256 / 512, {STUDY_BASE['steps']:,} iterations per point, gradient codebook, constant lr, "
            f"seeds {' and '.join(map(str, STUDY_SEEDS))} ({done}). The real CIFAR-10 subset (4,660 training images of 32×32×3; 4,194 to train, 466 held out) "
            f"stands in for the source's 64×64 CelebA; two halvings give an 8×8 code map, the size the source's 64×64 images get from three. "
            f"Widths: hidden {w['hidden']}, batch {w['batch_size']}, code_dim {w['code_dim']} (the source does not give its own). "
            "`saturation_step` is the sweep's one definition for every point: the first step at which the smoothed training-batch perplexity reaches "
            "90% of its maximum.\n\n" + md_table(claims, dict(claim="source 003's finding", ours='ours (seeds averaged; per seed)', verdict='verdict')) +
            '\n\n' + md_table(rows, cols) + f"\n\n*{' ; '.join('`' + c + '`' for c in st['commands'])}: {st['cpu_seconds']:,.0f} CPU seconds so far "
            f"({st['cpu_seconds'] / 3600:.1f} h), one thread each, {st['machine']['cpu']}, {st['machine']['cores']} cores shared with other jobs, "
            f"torch {st['machine']['torch']}, commit {st['machine']['commit']}, {st['machine']['date']}.*\n\n"
            + pictures_md(st, dict(curves="the study's curves: reconstruction error and perplexity of training batches, both seeds"))
            + ('\n' + widths_markdown(widths) if widths else ''))

def claim_numbers(c:dict) -> str:
    if c['verdict'] == 'pending' and 'saturation_mean' not in c and 'held_out_perplexity' not in c: return '–'
    if 'saturation_mean' in c:
        steps = ', '.join(f"{c['factor']} {v:g}: {fmt(s)}" for v, s in zip(c['values'], c['saturation_mean']))
        seeds = '; '.join(f"seed {s}: " + ', '.join(fmt(x) for x in xs) for s, xs in c['saturation_by_seed'].items())
        return f"{steps} ({seeds})"
    if 'held_out_perplexity' in c:
        return f"held-out perplexity {fmt(c['held_out_perplexity'])}, training batches at most {fmt(c['max_train_perplexity'])}"
    return (f"training error {fmt(c['train_error_at_4000'])} at iteration 4,000, {fmt(c['train_error_at_end'])} at the end; "
            f"held-out MSE {fmt(c['held_out_mse'])}")

def write_markdown(results:dict) -> Path:
    "SOURCES.md: a section per part finished so far."
    parts = ["# The sources' results at their own scale\n",
             "Made by `python benchmarks/bench_sources.py tfp|keras|study|report` (each part resumable; run folders in "
             "benchmarks/scratch/sources/, every number in `sources.json`). Benchmarks, not tests: CI never runs them. "
             "Times hold only for the machine named beside them.\n"]
    if 'tfp' in results: parts.append(tfp_markdown(results['tfp']))
    if 'keras' in results: parts.append(keras_markdown(results['keras']))
    if 'study' in results: parts.append(study_markdown(results['study'], results.get('study_widths')))
    elif 'study_widths' in results: parts.append("## The CelebA study (source 003)\n\nNot run yet.\n\n" + widths_markdown(results['study_widths']))
    path = RESULTS/'SOURCES.md'
    path.write_text('\n'.join(parts) + '\n')
    return path

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('part', choices=['tfp', 'keras', 'study', 'report'])
    p.add_argument('--measure', action='store_true', help='study: time a few hundred steps at each candidate width first, and stop')
    a = p.parse_args(argv)
    if a.part == 'tfp': part_tfp()
    elif a.part == 'keras': part_keras()
    elif a.part == 'study': measure_widths() if a.measure else part_study()
    else:   # whatever is finished, measured again from the run folders; nothing trained
        for name, part in (('tfp', part_tfp), ('keras', part_keras)):
            if finished_run(name): part()
        if any(read_sweep(s) for s in STUDY_SEEDS): save_part('study', study_summary())
        print(write_markdown(load_results()))

if __name__ == '__main__': main()
