"""The paper's section 4.1 on this machine: a Gaussian-latent VAE (plain and autoregressive decoder) beside the VQ-VAE,
with the same encoder, decoder and discretised logistic likelihood, on MNIST and the CIFAR-10 subset.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_vae.py          # every model, then the report
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_vae.py mnist    # one dataset's models
    python benchmarks/bench_vae.py report                                # the table from what is finished

Resumable: each model trains in the package's loop with a checkpoint (benchmarks/scratch/vae/, git-ignored); a killed
run continues from its last checkpoint, and a finished model is measured once and kept in
benchmarks/results/vae.json (with VAE.md beside it). The data are the IDX files under $VQVAE_NB_DATA, read as the
notebooks read them (`tutorial_data`). Not a test.
"""
from __future__ import annotations
import argparse, json, math, os, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, machine, md_table, fmt

RUNS_DIR = SCRATCH/'vae'
RESULTS_FILE = RESULTS/'vae.json'
PAPER = {'VAE': 4.51, 'VQ-VAE': 4.67, 'VIMCO': 5.14}   # section 4.1: CIFAR-10, 250,000 steps of batch 128, 256 channels

# each dataset: where `tutorial_data` finds it, the models' sizes (VQVAEConfig fields; the VAE's latent is D channels on the
# same map) and the training every model gets (Adam, constant lr); the prior trains on the VQ-VAE's codes
DATASETS = {
    'mnist': dict(data=dict(name='mnist', split='test'),
                  model=dict(likelihood='logistic', hidden=64, res_hidden=32, code_dim=16, num_codes=128, loss_scale='paper'),
                  fit=dict(steps=3000, batch_size=64, lr=1e-3, lr_schedule='constant'), prior_steps=1500),
    'cifar10': dict(data=dict(name='cifar10', split='train'),
                    model=dict(likelihood='logistic', in_channels=3, image_size=32, hidden=64, res_hidden=32, code_dim=32,
                               num_codes=512, loss_scale='paper'),
                    fit=dict(steps=3000, batch_size=64, lr=1e-3, lr_schedule='constant'), prior_steps=1500),
}
MODELS = ('vae_plain', 'vae_autoregressive', 'vqvae')
PRIOR = dict(hidden=64, num_layers=8)   # the Gated PixelCNN over the VQ-VAE's codes

def data(name:str) -> tuple:
    from vqvae_nb.datasets import tutorial_data
    return tutorial_data(**DATASETS[name]['data'], verbose=False)

def load_results() -> dict:
    return json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.is_file() else {}

def save_entry(dataset:str, model:str, entry:dict) -> None:
    "Keep one model's numbers in vae.json (the others kept), atomically, then VAE.md from all of them."
    results = load_results()
    results.setdefault('datasets', {}).setdefault(dataset, {})[model] = entry
    results['paper'], results['conditions'] = PAPER, conditions(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS_FILE.with_suffix('.tmp')
    tmp.write_text(json.dumps(results, indent=1) + '\n')
    os.replace(tmp, RESULTS_FILE)
    write_markdown(results)

def vae_entry(dataset:str, decoder:str, train_ds, valid_ds) -> dict:
    "Train (or continue) the VAE with `decoder` on `dataset`; its held-out bits/dim and latent use."
    from vqvae_nb.model import VQVAEConfig
    from vqvae_nb.gaussian_vae import GaussianVAE, fit_vae, vae_bits_per_dim, posterior_stats
    s = DATASETS[dataset]
    torch.manual_seed(0)
    model = GaussianVAE(VQVAEConfig(**{k: v for k, v in s['model'].items() if k not in ('num_codes', 'loss_scale')}), decoder=decoder)
    t0, cpu0 = time.time(), time.process_time()
    history = fit_vae(model, train_ds, config=None, checkpoint=RUNS_DIR/dataset/f'vae_{decoder}.pt', resume=True, progress=False,
                      device='cpu', **s['fit'])
    stats = posterior_stats(model, valid_ds)
    return dict(vae_bits_per_dim(model, valid_ds), kl_nats=stats['kl_nats'], kl_per_channel=stats['kl_per_channel'],
                active_units=stats['active_units'], units=stats['units'], active_channels=stats['active_channels'],
                channels=len(stats['kl_per_channel']), train_loss_end=sum(history['loss'][-50:]) / len(history['loss'][-50:]),
                steps=s['fit']['steps'], seconds=time.time() - t0, cpu_seconds=time.process_time() - cpu0,
                parameters=sum(p.numel() for p in model.parameters()), machine=machine())

def vqvae_entries(dataset:str, train_ds, valid_ds) -> dict:
    "Train (or continue) the VQ-VAE and its prior on `dataset`; its bits/dim under the uniform and the learned prior, and its code use."
    from vqvae_nb.model import VQVAE, VQVAEConfig
    from vqvae_nb.training import fit_vqvae, evaluate_vqvae
    from vqvae_nb.pixelcnn import GatedPixelCNN
    from vqvae_nb.prior import encode_dataset, fit_prior
    from vqvae_nb.sampling import bits_per_dim
    from vqvae_nb.losses import nats_to_bits_per_dim, uniform_prior_kl
    s, folder = DATASETS[dataset], RUNS_DIR/dataset
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(**s['model']))
    t0, cpu0 = time.time(), time.process_time()
    fit_vqvae(model, train_ds, checkpoint=folder/'vqvae.pt', resume=True, progress=False, device='cpu', **s['fit'])
    codes = encode_dataset(model, train_ds)[0]
    prior = GatedPixelCNN(model.config.num_codes, **PRIOR)
    fit_prior(prior, codes, checkpoint=folder/'prior.pt', resume=True, progress=False, device='cpu', steps=s['prior_steps'])
    held, b = evaluate_vqvae(model, valid_ds), bits_per_dim(model, prior, valid_ds, details=True)
    dims, latents = valid_ds[0][0].numel(), math.prod(model.latent_shape)
    uniform = nats_to_bits_per_dim(uniform_prior_kl(model.config.num_codes, latents), dims)
    common = dict(decoder_bits_per_dim=b['decoder_bits_per_dim'], codes_used=held['codes_used'], num_codes=model.config.num_codes,
                  perplexity=held['perplexity'], code_nats=latents * math.log(held['perplexity']), latents=latents,
                  recon_mse=held['recon_mse'], steps=s['fit']['steps'], prior_steps=s['prior_steps'], seconds=time.time() - t0,
                  cpu_seconds=time.process_time() - cpu0, machine=machine())
    return dict(vqvae_uniform=dict(common, bits_per_dim=b['decoder_bits_per_dim'] + uniform, prior_bits_per_dim=uniform),
                vqvae_prior=dict(common, bits_per_dim=b['bits_per_dim'], prior_bits_per_dim=b['prior_bits_per_dim']))

def run_dataset(dataset:str) -> None:
    "Every model of `dataset` not yet in vae.json, one at a time, each kept as it finishes."
    train_ds, valid_ds = data(dataset)
    done = load_results().get('datasets', {}).get(dataset, {})
    for decoder in ('plain', 'autoregressive'):
        if f'vae_{decoder}' in done: continue
        print(f'{dataset}: VAE, {decoder} decoder', flush=True)
        save_entry(dataset, f'vae_{decoder}', vae_entry(dataset, decoder, train_ds, valid_ds))
    if 'vqvae_prior' not in done:
        print(f'{dataset}: VQ-VAE and its prior', flush=True)
        for key, entry in vqvae_entries(dataset, train_ds, valid_ds).items(): save_entry(dataset, key, entry)
    save_collapse_picture(dataset)

def save_collapse_picture(dataset:str) -> Path:
    "results/vae_collapse_DATASET.png: each VAE's channels by their KL beside what the VQ-VAE's codes carry (12b's `plot_collapse`)."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from vqvae_nb.gaussian_vae import plot_collapse
    rows = load_results()['datasets'][dataset]
    vq = rows['vqvae_prior']
    fig = plot_collapse({LABELS[k]: rows[k] for k in ('vae_plain', 'vae_autoregressive')},
                        {'VQ-VAE': (vq['code_nats'], vq['codes_used'], vq['num_codes'])})
    fig.axes[0].set_title(f'{dataset}: what the latents carry after {DATASETS[dataset]["fit"]["steps"]:,} steps', fontsize=9)
    path = RESULTS/f'vae_collapse_{dataset}.png'
    fig.savefig(path, dpi=90, bbox_inches='tight'); plt.close(fig)
    return path

# ---------------------------------------------------------------- VAE.md

LABELS = {'vae_plain': 'VAE, plain decoder', 'vae_autoregressive': 'VAE, autoregressive decoder',
          'vqvae_uniform': 'VQ-VAE, uniform prior (as trained)', 'vqvae_prior': 'VQ-VAE, Gated PixelCNN prior'}

def latent_use(r:dict) -> str:
    "What the latents carry: a VAE's KL and active units, a VQ-VAE's code entropy and codes used."
    if 'kl_nats' in r: return f"KL {fmt(r['kl_nats'])} nats; {r['active_units']}/{r['units']} units active ({r['active_channels']}/{r['channels']} channels)"
    return f"codes' entropy {fmt(r['code_nats'])} nats (at most {fmt(r['latents'] * math.log(r['num_codes']))}); {r['codes_used']}/{r['num_codes']} codes used"

def parts(r:dict) -> str:
    second = r.get('kl_bits_per_dim', r.get('prior_bits_per_dim'))
    return f"{fmt(r['decoder_bits_per_dim'])} + {fmt(second)}"

def dataset_section(name:str, rows:dict) -> str:
    s = DATASETS[name]
    model = ', '.join(f'{k} {v}' for k, v in s['model'].items())
    table = md_table([dict(model=LABELS[k], bpd=rows[k]['bits_per_dim'], parts=parts(rows[k]), use=latent_use(rows[k]),
                           cpu=rows[k]['cpu_seconds']) for k in LABELS if k in rows],
                     dict(model='model', bpd='held-out bits/dim', parts='decoder + KL (VAE) or prior (VQ-VAE)',
                          use='what the latents carry, per image', cpu='CPU seconds'))
    fit = s['fit']
    return (f"## {name}\n\nEvery model {fit['steps']:,} steps of batch {fit['batch_size']}, Adam at {fit['lr']:g} (constant); "
            f"{model}; the prior {s['prior_steps']:,} steps (Gated PixelCNN, {PRIOR['num_layers']} layers of {PRIOR['hidden']}).\n\n{table}\n")

def write_markdown(results:dict) -> Path:
    m = next((r['machine'] for d in results.get('datasets', {}).values() for r in d.values()), None)
    head = ("# A continuous VAE beside the VQ-VAE (paper, section 4.1)\n\n"
            "Made by `python benchmarks/bench_vae.py` (resumable; every number in `vae.json`). The same encoder and decoder "
            "(02_encoder), the same discretised logistic likelihood (04_losses) and the same training loop for every model; "
            "bits/dim are held-out negative ELBOs (upper bounds on −log p(x)). The paper, on CIFAR-10 at 250,000 steps of "
            f"batch 128: VAE {PAPER['VAE']}, VQ-VAE {PAPER['VQ-VAE']}, VIMCO {PAPER['VIMCO']} bits/dim.\n")
    body = [dataset_section(n, rows) for n, rows in results.get('datasets', {}).items()]
    tail = (f"*One torch thread, {m['cpu']}, {m['cores']} cores shared with other jobs, torch {m['torch']}, commit {m['commit']}, "
            f"{m['date']}.*\n") if m else ''
    path = RESULTS/'VAE.md'
    path.write_text('\n'.join([head, *body, tail]))
    return path

def conditions(results:dict) -> str:
    "One line for the notebook: how the numbers were made."
    m = next((r['machine'] for d in results.get('datasets', {}).values() for r in d.values()), {})
    return (f"held-out images; every model trained with Adam in the package's loop on one CPU thread ({m.get('cpu', '?')}, "
            f"{m.get('date', '?')}); see benchmarks/results/VAE.md for the sizes and steps")

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('part', nargs='?', default='all', choices=['all', 'report', *DATASETS])
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    for name in DATASETS if a.part == 'all' else [] if a.part == 'report' else [a.part]: run_dataset(name)
    print(write_markdown(load_results()))

if __name__ == '__main__': main()
