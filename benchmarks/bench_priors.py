"""Transformer prior against the Gated PixelCNN at equal CPU training time, on the codes of MNIST and KMNIST VQ-VAEs.

For each dataset (its real test files, split 9,000 / 1,000 by vqvae_nb.data.tutorial_data) one VQ-VAE of
the command line's default configuration adapted to 9,000 images (K=128; `--vqvae-steps` can shorten its
6,000 steps) is trained once and cached in benchmarks/scratch/. On its codes a Gated PixelCNN and a
transformer of similar parameter counts each train, class-conditional and unconditional, until they have
used the largest budget of PROCESS CPU time (one torch thread, so other programs on the machine do not
change the budget; the held-out evaluations along the way are not counted): Adam, batches of 64, gradient
norm clipped at 1, a constant learning rate after an optional linear warm-up, so that the weights kept at
each smaller budget are snapshots of the same run and the curve between them is the trend.

Reported per dataset and budget: held-out bits per code (and its curve against CPU time, with the bits
on 300 training maps beside it to show overfitting), the unigram baseline, the share of class-conditional
samples the sampling notebook's classifier reads as their class, the Fréchet distance of samples to the
held-out images, and the CPU time to sample 64 maps (PixelCNN: incremental sampler; transformer: KV cache).
Every trained prior is cached in benchmarks/scratch/priors/, so a rerun only measures and writes results.

    python benchmarks/bench_priors.py [--quick] [--datasets mnist,kmnist] [--budgets 45,120] [--vqvae-steps N]
    python benchmarks/bench_priors.py --sweep [--settings 0,1]   # other transformer settings (MNIST, conditional)
    python benchmarks/bench_priors.py --train-only --datasets mnist --only 'transformer,cond'   # one prior per process
"""
from __future__ import annotations
import argparse, copy, hashlib, json, math, statistics, sys, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).parent))
from common import SCRATCH, RESULTS, md_table, machine, save, load, machine_line

PRIORS = {  # name -> kind, constructor arguments, learning rate, warm-up as a share of the largest budget
    'Gated PixelCNN': dict(kind='gated_pixelcnn', args=dict(hidden=64, num_layers=8, first_kernel_size=7, head_hidden=None), lr=1e-3, warmup=0.0),
    'transformer': dict(kind='transformer', args=dict(dim=128, depth=4, heads=4, dropout=0.0), lr=1e-3, warmup=0.0),  # better than 3e-3 at a constant rate: the sweep
}
SWEEP = {  # transformer settings tried, all within 20% of the PixelCNN's parameters
    'd128 L4, lr 1e-3': dict(args=dict(dim=128, depth=4, heads=4), lr=1e-3, warmup=0.0),
    'd128 L4, lr 3e-3, warm-up 10%': dict(args=dict(dim=128, depth=4, heads=4), lr=3e-3, warmup=0.1),
    'd128 L4, lr 1e-3, tied head': dict(args=dict(dim=128, depth=4, heads=4, tie_weights=True), lr=1e-3, warmup=0.0),
    'd96 L6, lr 1e-3': dict(args=dict(dim=96, depth=6, heads=4), lr=1e-3, warmup=0.0),
    'd128 L4, lr 3e-3 (the rate used above)': dict(args=dict(dim=128, depth=4, heads=4), lr=3e-3, warmup=0.0),
}

def _tag(spec:dict) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]

def dataset_codes(name:str, quick=False, steps:int|None=None) -> dict:
    "The images, the cached VQ-VAE of the adapted default configuration and the codes of both splits."
    from vqvae_nb.datasets import tutorial_data
    from vqvae_nb.config import make_config, adapt_config, model_config
    from vqvae_nb.model import VQVAE
    from vqvae_nb.training import fit_vqvae, evaluate_vqvae
    from vqvae_nb.prior import encode_dataset
    train_ds, valid_ds = tutorial_data(name, verbose=False)
    if len(train_ds) != 9000: raise SystemExit(f'{name}: its test files are missing; set VQVAE_NB_DATA to the folder holding them')
    config, _ = adapt_config(make_config(dataset=name), len(train_ds))
    if steps: config['train']['steps'] = steps
    mcfg, _ = model_config(config, train_ds)
    torch.manual_seed(config['seed'])
    vqvae, t = VQVAE(mcfg), config['train']
    path = SCRATCH/f"vqvae_{name}_{config['train']['steps']}.pt"
    start = time.process_time()
    fit_vqvae(vqvae, train_ds, valid_ds, steps=t['steps'], batch_size=t['batch_size'], lr=t['lr'], lr_schedule=t['lr_schedule'],
              device='cpu', seed=config['seed'], eval_every=t['steps'] // 5, checkpoint=path, checkpoint_every=1000,
              resume=True, progress=False)
    held = evaluate_vqvae(vqvae, valid_ds)
    train_codes, train_labels = encode_dataset(vqvae, train_ds, cache=path.with_suffix('.codes.pt'))
    valid_codes, valid_labels = encode_dataset(vqvae, valid_ds, cache=path.with_suffix('.valid_codes.pt'))
    return dict(name=name, train_ds=train_ds, valid_ds=valid_ds, vqvae=vqvae, K=mcfg.num_codes, train_codes=train_codes,
                train_labels=train_labels, valid_codes=valid_codes, valid_labels=valid_labels,
                vqvae_info=dict(steps=t['steps'], num_codes=mcfg.num_codes, hidden=mcfg.hidden, recon_mse=held['recon_mse'],
                                perplexity=held['perplexity'], codes_used=held['codes_used'],
                                cpu_seconds_this_run=time.process_time() - start))

def make_prior(spec:dict, K:int, conditional:bool, shape:tuple):
    from vqvae_nb.prior import PRIOR_KINDS
    import vqvae_nb.transformer  # registers the transformer
    args = dict(spec['args'], max_shape=shape) if spec['kind'] == 'transformer' else spec['args']
    torch.manual_seed(0)
    return PRIOR_KINDS[spec['kind']](K, num_classes=10 if conditional else None, **args)

def lr_factor(frac:float, warmup:float) -> float:
    "A linear warm-up over the first `warmup` share of the longest budget, then constant: every budget is a snapshot of one run."
    return min(1.0, (frac + 1e-3) / warmup) if warmup else 1.0

def train_for(prior, data:dict, conditional:bool, budgets:list, lr:float, warmup:float=0.0, batch_size:int=64,
              evals:int=8, seed:int=0) -> tuple[dict, dict]:
    "Train `prior` until it has used max(`budgets`) process CPU seconds; its weights at each budget and the bits curve."
    from vqvae_nb.prior import prior_nll_bits
    codes, labels = data['train_codes'], data['train_labels'] if conditional else None
    vcodes, vlabels = data['valid_codes'], data['valid_labels'] if conditional else None
    sub = torch.randperm(len(codes), generator=torch.Generator().manual_seed(1))[:300]
    opt = torch.optim.Adam(prior.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed); torch.manual_seed(seed)
    seconds = max(budgets)
    points = sorted(set([seconds * (i + 1) / evals for i in range(evals)] + list(budgets)))
    curve, states, used, step = dict(cpu_seconds=[], step=[], valid_bits=[], train_bits=[]), {}, 0.0, 0
    prior.train()
    while points:
        start = time.process_time()
        for g in opt.param_groups: g['lr'] = lr * lr_factor(used / seconds, warmup)
        idx = torch.randint(len(codes), (batch_size,), generator=gen)
        loss = F.cross_entropy(prior(codes[idx], None if labels is None else labels[idx]), codes[idx])
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0); opt.step()
        if not math.isfinite(loss.item()): raise FloatingPointError(f'loss {loss.item()} at step {step}; lower lr')
        used += time.process_time() - start; step += 1
        if used < points[0]: continue
        while points and used >= points[0]: done = points.pop(0)  # evaluations are not counted in the budget
        curve['cpu_seconds'].append(round(used, 2)); curve['step'].append(step)
        curve['valid_bits'].append(prior_nll_bits(prior, vcodes, vlabels))
        curve['train_bits'].append(prior_nll_bits(prior, codes[sub], None if labels is None else labels[sub]))
        for b in budgets:
            if b not in states and used >= b:
                states[b] = dict(state={k: v.clone() for k, v in prior.state_dict().items()}, steps=step, cpu_seconds=used,
                                 valid_bits=curve['valid_bits'][-1])
        prior.train()
    prior.eval()
    return states, curve

def trained(spec:dict, data:dict, conditional:bool, budgets:list, quick=False) -> dict:
    "{budget: (prior, info)} for the prior of `spec` trained on `data`'s codes: from the cache in scratch/ or trained now."
    path = SCRATCH/'priors'/(f"{data['name']}-{spec['kind']}-{_tag(spec)}-{'cond' if conditional else 'uncond'}-"
                             f"{'_'.join(f'{b:g}' for b in budgets)}{'-quick' if quick else ''}.pt")
    make = lambda: make_prior(spec, data['K'], conditional, tuple(data['train_codes'].shape[1:]))
    if path.exists(): saved = torch.load(path, weights_only=True)
    else:
        from vqvae_nb.core import atomic_save
        prior = make()
        states, curve = train_for(prior, data, conditional, budgets, spec['lr'], spec.get('warmup', 0.0))
        saved = dict(states=states, curve=curve, params=sum(p.numel() for p in prior.parameters()))
        atomic_save(saved, path)
        print(f"{data['name']} {spec['kind']} {spec['args']} lr {spec['lr']:g} {'cond' if conditional else 'uncond'}: " +
              ', '.join(f"{b:g} s: {s['steps']} steps, {s['valid_bits']:.3f} bits/code" for b, s in states.items()), flush=True)
    out = {}
    for b, s in saved['states'].items():
        prior = make(); prior.load_state_dict(s['state']); prior.eval()
        out[b] = (prior, dict(steps=s['steps'], cpu_seconds=s['cpu_seconds'], valid_bits=s['valid_bits'], params=saved['params'],
                              curve=saved['curve']))
    return out

def sampling_seconds(prior, shape:tuple, repeats:int=3) -> float:
    "Median process CPU seconds (one thread) to draw 64 class-conditional code maps with the prior's fast sampler."
    from vqvae_nb.sampling import sample_codes
    times = []
    for r in range(repeats):
        start = time.process_time()
        sample_codes(prior, 64, shape, y=torch.arange(64) % 10, generator=torch.Generator().manual_seed(r))
        times.append(time.process_time() - start)
    return statistics.median(times)

def sample_sheet(data:dict, priors:dict, path:Path, per_class:int=5):
    "One small greyscale PNG: for each prior, `per_class` decoded class-conditional samples per row, row r asking for class r."
    from PIL import Image
    from vqvae_nb.sampling import sample_codes, decode_codes
    shape, y, grids = tuple(data['train_codes'].shape[1:]), torch.arange(10).repeat_interleave(per_class), []
    for prior in priors.values():
        images = decode_codes(data['vqvae'], sample_codes(prior, len(y), shape, y=y, generator=torch.Generator().manual_seed(1)))
        s = images.shape[-1]
        grid = images[:, 0].reshape(10, per_class, s, s).permute(0, 2, 1, 3).reshape(10 * s, per_class * s)
        grids += [grid, torch.ones(10 * s, s // 2)]
    pixels = ((torch.cat(grids[:-1], 1).clamp(0, 1) * 15).round() * 17).byte().numpy()  # 16 grey levels: a small file
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode='L').save(path, optimize=True)
    return path.name

def run_dataset(name:str, budgets:list, quick=False, train_only=False, vqvae_steps=None, n_samples=500, only=None) -> dict:
    "Train (or load) every prior on `name`'s codes and measure them; cached in scratch/ as JSON."
    from vqvae_nb.prior import unigram_bits
    from vqvae_nb.sampling import train_classifier, sample_quality
    cached = SCRATCH/f"result_{name}-{'_'.join(f'{b:g}' for b in budgets)}{'-quick' if quick else ''}.json"
    if cached.exists() and not train_only: return json.loads(cached.read_text())
    data = dataset_codes(name, quick, vqvae_steps)
    shape, out = tuple(data['train_codes'].shape[1:]), dict(vqvae=data['vqvae_info'], runs=[])
    out['unigram_bits'] = unigram_bits(data['train_codes'], data['valid_codes'], data['K'])
    models = {}
    for conditional in (True, False):
        for label, spec in PRIORS.items():
            if only and (label, conditional) not in only: continue
            for b, m in trained(spec, data, conditional, budgets, quick).items(): models[label, conditional, b] = m
    if train_only: return out
    classifier = train_classifier(data['train_ds'], steps=100 if quick else 500, seed=0)
    for (label, conditional, seconds), (prior, h) in models.items():
        q = sample_quality(data['vqvae'], prior, data['train_ds'], data['valid_ds'], classifier=classifier,
                           n=n_samples, generator=torch.Generator().manual_seed(3))
        out['fd_train_heldout'], out['classifier_heldout_accuracy'] = q['fd_train_heldout'], q['classifier_heldout_accuracy']
        out['runs'].append(dict(prior=label, conditional=conditional, budget_s=seconds, params=h['params'], steps=h['steps'],
                                cpu_seconds=h['cpu_seconds'], valid_bits=h['valid_bits'], curve=h['curve'],
                                sample_accuracy=q['sample_accuracy'], fd_samples=q['fd_samples'],
                                sampling_64_s=sampling_seconds(prior, shape) if conditional else None))
    top = max(budgets)
    out['sample_sheet'] = sample_sheet(data, {k: models[k, True, top][0] for k in PRIORS},
                                       (SCRATCH if quick else RESULTS)/f"priors_samples_{name}.png")
    cached.write_text(json.dumps(out))
    return out

def sweep(budgets:list, quick=False, vqvae_steps=None, settings=None) -> dict:
    "The transformer settings of SWEEP on MNIST's class-conditional codes, each trained for max(`budgets`) CPU seconds."
    data, rows = dataset_codes('mnist', quick, vqvae_steps), []
    for i, (label, s) in enumerate(SWEEP.items()):
        if settings is not None and i not in settings: continue
        for b, (prior, h) in trained(dict(kind='transformer', **s), data, True, budgets, quick).items():
            rows.append(dict(setting=label, budget_s=b, params=h['params'], steps=h['steps'], valid_bits=h['valid_bits'], curve=h['curve']))
    return dict(budgets_s=budgets, rows=rows)

def markdown(res:dict) -> str:
    parts = [f"### Transformer against Gated PixelCNN priors at equal CPU time\n\nProcess CPU seconds of training per prior (snapshots of one run at a constant learning rate), one "
             f"torch thread; held-out bits per code on 1,000 maps; {res['n_samples']} samples per prior scored by one classifier."]
    cols = dict(prior='prior', budget_s='CPU s', params='parameters', steps='steps', bits_cond='bits/code cond.',
                bits_uncond='bits/code uncond.', sample_accuracy='samples read right', fd_samples='FD of samples',
                sampling_64_s='CPU s to sample 64')
    for name, d in res['datasets'].items():
        rows = []
        for r in d['runs']:
            if not r['conditional']: continue
            u = next(x for x in d['runs'] if x['prior'] == r['prior'] and x['budget_s'] == r['budget_s'] and not x['conditional'])
            pc = {x['conditional']: x['valid_bits'] for x in d['runs'] if x['prior'] == 'Gated PixelCNN' and x['budget_s'] == r['budget_s']}
            rows.append(dict(r, bits_cond=f"{r['valid_bits']:.3f}" + ('' if r['prior'] == 'Gated PixelCNN' else f" ({r['valid_bits'] / pc[True] - 1:+.1%})"),
                             bits_uncond=f"{u['valid_bits']:.3f}" + ('' if r['prior'] == 'Gated PixelCNN' else f" ({u['valid_bits'] / pc[False] - 1:+.1%})"),
                             sample_accuracy=f"{r['sample_accuracy']:.1%}"))
        v = d['vqvae']
        parts.append(f"**{name}** (VQ-VAE: {v['steps']:,} steps, K={v['num_codes']}, held-out MSE {v['recon_mse']:.4f}; unigram "
                     f"{d['unigram_bits']:.3f} bits/code; FD training vs held-out images {d['fd_train_heldout']:.2f})\n\n"
                     + md_table(sorted(rows, key=lambda r: (r['budget_s'], r['prior'])), cols))
    if 'sweep' in res:
        parts.append("Transformer settings tried (MNIST, class-conditional):\n\n" + md_table(
            [dict(r, valid_bits=f"{r['valid_bits']:.3f}") for r in res['sweep']['rows']], dict(setting='setting', budget_s='CPU s', params='parameters', steps='steps', valid_bits='held-out bits/code')))
    return '\n\n'.join(parts)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='tiny budgets and a 200-step VQ-VAE: checks that it runs')
    ap.add_argument('--datasets', default='mnist,kmnist')
    ap.add_argument('--budgets', default='45,120', help='CPU seconds of training per prior at which to measure, comma-separated')
    ap.add_argument('--vqvae-steps', type=int, default=None, help="the VQ-VAE's steps (default: the adapted configuration's)")
    ap.add_argument('--samples', type=int, default=500, help='class-conditional samples scored per prior')
    ap.add_argument('--train-only', action='store_true', help='train and cache the priors, write no results')
    ap.add_argument('--sweep', action='store_true', help='try the transformer settings of SWEEP (MNIST, conditional)')
    ap.add_argument('--only', default=None, help="with --train-only: train one prior, e.g. 'transformer,cond' (to spread runs over processes)")
    ap.add_argument('--settings', default=None, help="with --sweep: the SWEEP entries to train, by index, e.g. '0,2'")
    args = ap.parse_args()
    torch.set_num_threads(1)
    budgets = [3.0, 6.0] if args.quick else [float(b) for b in args.budgets.split(',')]
    steps, n = (200, 100) if args.quick else (args.vqvae_steps, args.samples)
    if args.sweep:
        res = sweep(budgets, args.quick, steps, None if args.settings is None else [int(i) for i in args.settings.split(',')])
        (SCRATCH/'sweep.json').write_text(json.dumps(res))
        print(md_table(res['rows'], dict(setting='setting', budget_s='CPU s', params='parameters', steps='steps', valid_bits='held-out bits/code')))
        sys.exit()
    only = None if args.only is None else [(args.only.split(',')[0], args.only.split(',')[1] == 'cond')]
    start = time.time()
    res = dict(budgets_s=budgets, priors=PRIORS, n_samples=n, vqvae_steps=steps,
               datasets={name: run_dataset(name, budgets, args.quick, args.train_only, steps, n, only) for name in args.datasets.split(',')})
    if args.train_only: sys.exit()
    if (SCRATCH/'sweep.json').exists() and not args.quick: res['sweep'] = json.loads((SCRATCH/'sweep.json').read_text())
    res['seconds'] = time.time() - start
    path = save('priors_quick' if args.quick else 'priors', res, args.quick)
    print(markdown(res)); print(f'\n{machine_line(load(path.stem)["machine"])}; written to {path}')
