"""Quality: the whole pipeline (VQ-VAE, then the Gated PixelCNN prior over its codes) for three codebooks.

It runs `vqvae_nb train`'s own pipeline (vqvae_nb.cli.run_training) with the command's default
configuration, changing only the codebook: learnt by gradient (the codebook loss), by EMA (Appendix A.1),
and EMA with dead-code restarts. Datasets: `digits` (its fixed 1,500 / 297 split) and the real MNIST test
set from IDX files (the CLI's fixed split of an IDX pair, held_out=0.1: 9,000 to train, 1,000 held out).
Run folders go to benchmarks/scratch/quality/ (git-ignored).
"""
from __future__ import annotations
from pathlib import Path
from itertools import product
from common import md_table, SCRATCH

VARIANTS = {'gradient codebook': dict(quantizer='grad'), 'EMA': dict(quantizer='ema'),
            'EMA + restart': dict(quantizer='ema', restart_threshold=1.0)}

def data_options(mnist_dir) -> dict:
    "name -> `make_config` options; MNIST only when its IDX files are there (held_out 0.1: 9,000 / 1,000)."
    out = {'digits': dict(dataset='digits')}
    folder = Path(mnist_dir).expanduser()
    images, labels = (next(iter(sorted(folder.glob(f't10k-{kind}-idx*-ubyte*'))), None) for kind in ('images', 'labels'))
    if images is None or labels is None: print(f'quality: no MNIST IDX files in {folder}: MNIST rows skipped (pass --mnist DIR)', flush=True)
    else: out['MNIST test set'] = dict(dataset='idx', images=str(images), labels=str(labels), held_out=0.1)
    return out

def run(quick=False, devices=('cpu',), mnist='../shared/data/mnist') -> dict:
    from vqvae_nb.cli import make_config, check_config, run_training
    sizes = dict(steps=60, prior_steps=60, num_samples=20) if quick else {}  # not quick: the CLI's defaults
    rows = []
    for (data_name, options), (variant, model) in product(data_options(mnist).items(), VARIANTS.items()):
        config = make_config(**options, **sizes)
        config['model'].update(model)
        if quick: config['evaluate']['classifier_steps'] = 100
        out = SCRATCH/'quality'/f"{data_name}-{variant}".replace(' ', '_')
        m = run_training(check_config(config), out, device='cpu', progress=False, log=None)
        rows.append(dict(dataset=data_name, codebook=variant, train_valid=f"{m['num_train']:,} / {m['num_valid']:,}",
                         n_samples=m.get('n_samples'), **{k: m.get(k) for k in METRICS}))
        print('quality', data_name, variant, {k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    return dict(rows=rows, steps=config['train']['steps'], prior_steps=config['prior']['steps'],
                model=config['model'])

METRICS = ('recon_mse', 'perplexity', 'codes_used', 'num_codes', 'prior_nll_bits', 'bits_per_dim', 'sample_accuracy',
           'classifier_heldout_accuracy', 'fd_samples', 'fd_reconstructions', 'fd_train_heldout',
           'vqvae_seconds', 'prior_seconds', 'total_seconds')

def markdown(res:dict) -> str:
    rows = [dict(r, codes=f"{r['codes_used']} / {r['num_codes']}") for r in res['rows']]
    model = dict(dataset='dataset', codebook='codebook', train_valid='train / held-out', recon_mse='held-out MSE',
                 perplexity='perplexity', codes='codes used / K', prior_nll_bits='prior bits/code', bits_per_dim='bits/dim')
    samples = dict(dataset='dataset', codebook='codebook', sample_accuracy='samples read as their class',
                   classifier_heldout_accuracy='classifier on held-out images', fd_samples='FD samples',
                   fd_reconstructions='FD reconstructions', fd_train_heldout='FD training images (floor)',
                   n_samples='samples', vqvae_seconds='VQ-VAE s', prior_seconds='prior s', total_seconds='total s (with evaluation)')
    return ("### Quality: VQ-VAE + Gated PixelCNN prior, three codebooks\n\n"
            f"`vqvae_nb train`'s pipeline (`vqvae_nb.cli.run_training`) with its default configuration, only the "
            f"codebook changed: {res['steps']} VQ-VAE steps, {res['prior_steps']} prior steps, seed 0, CPU. "
            "Held-out images throughout.\n\n" + md_table(rows, model) +
            "\n\nSample quality (12_sampling's `sample_quality`): the share of class-conditional samples that a small "
            "classifier reads as the class they were drawn for, and Fréchet distances (FD) of its features to those "
            "of the held-out images; training images give the floor. Times are for this machine only.\n\n" + md_table(rows, samples))
