"""Peer: vqvae_nb against pythae ("Unifying Generative Autoencoders in Python") at equal CPU time.

    VQVAE_NB_DATA=/path/to/data python benchmarks/bench_peer.py [--vqvae-seconds 120] [--prior-seconds 60] [--quick]

Both packages train on the same real images (the MNIST test set's IDX files, split 9,000 / 1,000 by
`holdout_split(..., 0.1)`; `digits` when the data root lacks them, and the results say so), each for the
same budget of CPU time (`time.process_time`, one torch thread; wall time on a GPU):

1. VQ-VAEs. Ours: `VQVAE(VQVAEConfig(**DEFAULT_CONFIG['model']))` trained by `fit_vqvae` with the
   default batch, lr and cosine schedule (its step count is calibrated to the budget, and a callback stops it
   at the budget). pythae's `VQVAE` + `BaseTrainer`, twice: (a) *matched*: our encoder and decoder wrapped
   as pythae's `BaseEncoder` / `BaseDecoder`, the same K, D, β, EMA codebook, batch and lr; (b) pythae's
   *documented defaults*: its MNIST ResNet VQ-VAE nets (`Encoder/Decoder_ResNet_VQVAE_MNIST`, latent_dim 16
   as in their docstrings), `VQVAEConfig` defaults (K=512, gradient codebook) and `BaseTrainerConfig`
   defaults (batch 64, lr 1e-4). A training callback stops pythae's trainer at the budget. The better of
   (a) and (b) by held-out MSE counts for pythae and gets the prior.
2. Priors over the codes, again at equal CPU time: ours `GatedPixelCNN` (the CLI's default size, class-
   conditional and unconditional) by `fit_prior`; pythae's `PixelCNNSampler` (its default PixelCNN) fitted
   by its own `fit` with the same batch and lr. pythae's sampler has no class conditioning.
3. Held-out bits per code, and samples scored by one classifier (`vqvae_nb.sampling.train_classifier`)
   shared by both: Fréchet distance of its features to the held-out images', and for class-conditional
   samples the share it reads as the class they were drawn for.

Writes benchmarks/results/peer.json and PEER.md. Scratch files go to benchmarks/scratch/peer/ (git-ignored).
"""
from __future__ import annotations
import argparse, copy, logging, math, shutil, sys, time
from contextlib import contextmanager
from pathlib import Path
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, devices as all_devices, save, load, machine_line, md_table, fmt

try: from vqvae_nb.prior import encode_dataset, fit_prior, prior_nll_bits
except ImportError: from vqvae_nb.pixelcnn import encode_dataset, fit_prior, prior_nll_bits  # older layout
from vqvae_nb.pixelcnn import GatedPixelCNN

# ---------------------------------------------------------------------------------------------- clocks
def budget_clock(device:torch.device):
    "CPU time of this process on CPU (fair on a shared machine); wall time on a GPU (both trainers sync every step)."
    return time.perf_counter if device.type == 'cuda' else time.process_time

class Clocks:
    "CPU and wall seconds since creation."
    def __init__(self): self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
    def read(self) -> dict: return dict(cpu_s=time.process_time() - self.cpu0, wall_s=time.perf_counter() - self.wall0)

# ------------------------------------------------------------------------------------------------ data
def load_data(mnist=None):
    "(train, held-out, description): the MNIST test set split 9,000 / 1,000, else digits."
    from vqvae_nb.data import holdout_split, IDXDataset, DatasetUnavailableError
    from vqvae_nb.datasets import get_dataset
    try:
        if mnist is not None:  # a folder holding t10k-*-ubyte[.gz] (benchmarks/run.py --mnist)
            folder = Path(mnist).expanduser()
            found = [next(iter(sorted(folder.glob(f't10k-{k}-idx*-ubyte*'))), None) for k in ('images', 'labels')]
            if None in found: raise DatasetUnavailableError(f'no MNIST IDX files in {folder}')
            ds = IDXDataset(*found); ds.num_classes = 10
        else: ds = get_dataset('mnist', split='test', download=False)  # the data root: $VQVAE_NB_DATA
        train, valid = holdout_split(ds, 0.1)
        return train, valid, 'MNIST test set (IDX files), holdout_split 0.1'
    except DatasetUnavailableError as e:
        print(f'peer: MNIST test set not found ({str(e).splitlines()[0]}); using digits instead', flush=True)
        return get_dataset('digits', split='train'), get_dataset('digits', split='test'), 'digits (no MNIST IDX files found)'

def as_float(ds) -> torch.Tensor: return ds.images.float() / 255 if ds.images.dtype == torch.uint8 else ds.images.float()

def n_params(m) -> int: return sum(p.numel() for p in m.parameters())

@torch.no_grad()
def vq_stats(encode, reconstruct, x:torch.Tensor, K:int, device, bs:int=250) -> tuple[dict, torch.Tensor]:
    "The same held-out statistics for both packages: MSE of reconstructions clamped to [0, 1], perplexity and codes in use."
    sq, counts, recons = 0.0, torch.zeros(K, dtype=torch.float64), []
    for s in range(0, len(x), bs):
        xb = x[s:s + bs].to(device)
        r = reconstruct(xb).float().clamp(0, 1)
        sq += float(((r - xb) ** 2).sum()); recons.append(r.cpu())
        counts += torch.bincount(encode(xb).flatten().long().cpu(), minlength=K).double()
    p = counts[counts > 0] / counts.sum()
    return dict(recon_mse=sq / x.numel(), perplexity=float((-(p * p.log()).sum()).exp()),
                codes_used=int((counts > 0).sum())), torch.cat(recons)

# ----------------------------------------------------------------------------------------------- ours
def _calibrate(run_steps, first:int=5, last:int=25, clock=time.process_time) -> float:
    "Seconds per step from the clock between steps `first` and `last` of `run_steps(callback, steps)`."
    marks = {}
    def cb(step, *_):
        if step in (first, last): marks[step] = clock()
        return False
    run_steps(cb, last)
    return (marks[last] - marks[first]) / (last - first)

def train_ours(train, cfg:dict, train_cfg:dict, seconds:float, device) -> tuple:
    from vqvae_nb.model import VQVAE, VQVAEConfig
    from vqvae_nb.training import fit_vqvae
    clock = budget_clock(device)
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(**cfg))
    common = dict(batch_size=train_cfg['batch_size'], lr=train_cfg['lr'], device=device, seed=0, progress=False)
    per_step = _calibrate(lambda cb, n: fit_vqvae(copy.deepcopy(model), train, steps=n, log_every=1, callback=cb, **common),
                          clock=clock)
    steps = max(10, int(seconds / per_step))  # the cosine schedule ends at the budget
    clocks, start, done = Clocks(), clock(), {}
    def stop(step, *_):
        done['steps'] = step
        return clock() - start >= seconds
    fit_vqvae(model, train, steps=steps, lr_schedule=train_cfg.get('lr_schedule', 'constant'), log_every=5, callback=stop, **common)
    return model.eval(), dict(steps=done['steps'], planned_steps=steps, **clocks.read())

def fit_prior_for(prior, codes, labels, seconds:float, batch_size:int, lr:float, device) -> dict:
    "`fit_prior` with its step count calibrated to `seconds` of the budget clock (its cosine decay ends there)."
    clock, marks = budget_clock(device), []
    for n in (5, 25):  # fit_prior has no callback: time two short fits of a copy; the difference leaves out the set-up
        t = clock(); fit_prior(copy.deepcopy(prior), codes, labels, steps=n, batch_size=batch_size, lr=lr, device=device, progress=False)
        marks.append(clock() - t)
    steps = max(10, int(seconds / ((marks[1] - marks[0]) / 20)))
    clocks = Clocks()
    fit_prior(prior, codes, labels, steps=steps, batch_size=batch_size, lr=lr, device=device, progress=False)
    return dict(steps=steps, **clocks.read())

# --------------------------------------------------------------------------------------------- pythae
class OutOfBudget(Exception): "Raised by the budget callback to stop pythae's trainer."

@contextmanager
def quiet_pythae():
    "pythae's trainer logs every epoch and draws tqdm bars; keep the benchmark's output readable (no-op callbacks)."
    import pythae.trainers.base_trainer.base_trainer as bt
    from pythae.trainers.training_callbacks import TrainingCallback
    class NoBar(TrainingCallback): pass
    saved = bt.ProgressBarCallback
    bt.ProgressBarCallback = NoBar
    levels = {n: logging.getLogger(n).level for n in list(logging.root.manager.loggerDict) if n.startswith('pythae')}
    for n in levels: logging.getLogger(n).setLevel(logging.WARNING)
    try: yield
    finally:
        bt.ProgressBarCallback = saved
        for n, lv in levels.items(): logging.getLogger(n).setLevel(lv)

def budget_callback(seconds:float, clock):
    from pythae.trainers.training_callbacks import TrainingCallback
    class Budget(TrainingCallback):
        "Counts steps from the start of training and raises OutOfBudget once `seconds` of the clock have passed."
        steps, start = 0, None
        def on_train_begin(self, training_config, **kw): self.start = clock(); self.clocks = Clocks()
        def on_train_step_end(self, training_config, **kw):
            self.steps += 1
            if clock() - self.start >= seconds: raise OutOfBudget
    return Budget()

def trainer_config(out:Path, batch_size:int|None, lr:float|None, device):
    "pythae's BaseTrainerConfig: its defaults unless batch_size / lr are given; epochs without end (the budget stops it)."
    from pythae.trainers import BaseTrainerConfig
    extra = {k: v for k, v in dict(per_device_train_batch_size=batch_size, learning_rate=lr).items() if v is not None}
    return BaseTrainerConfig(output_dir=str(out), num_epochs=100_000, seed=0, no_cuda=device.type != 'cuda', **extra)

def peer_matched_nets(cfg:dict):
    "Our encoder and decoder, wrapped as pythae's BaseEncoder / BaseDecoder."
    from pythae.models.nn import BaseEncoder, BaseDecoder
    from pythae.models.base.base_utils import ModelOutput
    from vqvae_nb.encoder import make_autoencoder
    enc, dec = make_autoencoder(cfg['arch'], in_channels=1, out_channels=1, code_dim=cfg['code_dim'], hidden=cfg['hidden'],
                                res_hidden=cfg['res_hidden'], num_res_blocks=cfg['num_res_blocks'], num_downsamples=cfg['num_downsamples'])
    class Enc(BaseEncoder):
        def __init__(self): BaseEncoder.__init__(self); self.net = enc
        def forward(self, x): return ModelOutput(embedding=self.net(x))
    class Dec(BaseDecoder):
        def __init__(self): BaseDecoder.__init__(self); self.net = dec
        def forward(self, z): return ModelOutput(reconstruction=self.net(z))
    return Enc(), Dec()

def build_peer(kind:str, cfg:dict, image_shape:tuple):
    from pythae.models import VQVAE as PVQVAE, VQVAEConfig as PVQVAEConfig
    torch.manual_seed(0)
    if kind == 'matched':
        pcfg = PVQVAEConfig(input_dim=image_shape, latent_dim=cfg['code_dim'], num_embeddings=cfg['num_codes'],
                            commitment_loss_factor=cfg['beta'], use_ema=cfg['quantizer'] == 'ema', decay=cfg['decay'])
        enc, dec = peer_matched_nets(cfg)
    else:  # pythae's documented defaults: VQVAEConfig() and its MNIST ResNet VQ-VAE nets
        from pythae.models.nn.benchmarks.mnist import Encoder_ResNet_VQVAE_MNIST, Decoder_ResNet_VQVAE_MNIST
        pcfg = PVQVAEConfig(input_dim=image_shape, latent_dim=16)
        enc, dec = Encoder_ResNet_VQVAE_MNIST(pcfg), Decoder_ResNet_VQVAE_MNIST(pcfg)
    return PVQVAE(pcfg, encoder=enc, decoder=dec), pcfg

def train_peer(model, x_train, seconds:float, batch_size, lr, device, out:Path) -> dict:
    from pythae.trainers import BaseTrainer
    from pythae.data.preprocessors import DataProcessor
    dp = DataProcessor()
    ds = dp.to_dataset(dp.process_data(x_train))
    budget = budget_callback(seconds, budget_clock(device))
    with quiet_pythae():
        trainer = BaseTrainer(model=model, train_dataset=ds, training_config=trainer_config(out, batch_size, lr, device),
                              callbacks=[budget])
        try: trainer.train()
        except OutOfBudget: pass  # the model trained in place; pythae keeps no other copy worth more
    shutil.rmtree(out, ignore_errors=True)
    model.eval()
    return dict(steps=budget.steps, **budget.clocks.read())

def peer_encode(model, x, device, bs=250) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model({'data': x[s:s + bs].to(device)}).quantized_indices.cpu() for s in range(0, len(x), bs)])

def fit_peer_prior(model, x_train, seconds, batch_size, lr, device, out:Path):
    "pythae's PixelCNNSampler with its default PixelCNN, fitted by its own `fit` (its trainer stopped by the budget)."
    import pythae.samplers.pixelcnn_sampler.pixelcnn_sampler as ps
    sampler = ps.PixelCNNSampler(model=model, sampler_config=ps.PixelCNNSamplerConfig())
    if device.type == 'cpu' and sampler.device != 'cpu':  # pythae's samplers take CUDA whenever there is one (--cpu-only)
        sampler.device = model.device = 'cpu'; model.to('cpu'); sampler.pixelcnn_model.to('cpu')
    budget = budget_callback(seconds, budget_clock(device))
    Trainer = ps.BaseTrainer
    ps.BaseTrainer = lambda *a, **k: Trainer(*a, callbacks=[budget], **k)
    try:
        with quiet_pythae():
            sampler.fit(x_train, training_config=trainer_config(out, batch_size, lr, device))
    except OutOfBudget: sampler.is_fitted = True  # what fit does after training, less the save / reload round trip
    finally: ps.BaseTrainer = Trainer
    shutil.rmtree(out, ignore_errors=True)
    return sampler, dict(steps=budget.steps, **budget.clocks.read())

@contextmanager
def ema_lookup(model):
    """pythae 0.1.2's `PixelCNNSampler.sample` looks codes up by calling `model.quantizer.embeddings(indices)`: an
    `nn.Embedding` for the gradient codebook, but a plain tensor (not callable: TypeError) for `use_ema=True`.
    Work around it by lending the sampler a quantizer whose `embeddings` is an `nn.Embedding` of the EMA codebook."""
    q = model.quantizer
    if isinstance(q.embeddings, torch.nn.Module): yield; return
    shim = torch.nn.Module(); shim.embeddings = torch.nn.Embedding.from_pretrained(q.embeddings.detach().clone())
    model.quantizer = shim
    try: yield
    finally: model.quantizer = q

@torch.no_grad()
def peer_prior_bits(pixelcnn, codes:torch.Tensor, device, bs=250) -> float:
    "Held-out negative log-likelihood of pythae's PixelCNN (eval mode), bits per code."
    training = pixelcnn.training; pixelcnn.eval()
    nll = 0.0
    for s in range(0, len(codes), bs):
        z = codes[s:s + bs].to(device).float()
        nll += float(F.cross_entropy(pixelcnn({'data': z}).out, z.long(), reduction='sum'))
    pixelcnn.train(training)
    return nll / codes.numel() / math.log(2)

# --------------------------------------------------------------------------------------------- the run
def run(quick=False, devices=('cpu',), mnist=None, vqvae_seconds:float=120, prior_seconds:float=60, num_samples:int|None=None) -> dict:
    try: import pythae
    except ImportError:
        msg = 'pythae is not installed (pip install -r benchmarks/requirements.txt)'
        print('peer:', msg, flush=True)
        return dict(skipped=msg)
    from vqvae_nb.config import DEFAULT_CONFIG
    from vqvae_nb.sampling import train_classifier, classifier_outputs, frechet_distance, sample_images
    device = torch.device(list(devices)[-1])  # the GPU when there is one
    if quick: vqvae_seconds, prior_seconds = 6, 4
    cfg, tcfg, pcfg = dict(DEFAULT_CONFIG['model']), dict(DEFAULT_CONFIG['train']), dict(DEFAULT_CONFIG['prior'])
    prior_arch = {k: v for k, v in pcfg.items() if k not in ('steps', 'batch_size', 'lr')}
    train, valid, data_name = load_data(mnist)
    x_train, x_valid = as_float(train), as_float(valid)
    n = num_samples or (100 if quick else len(valid))
    scratch = SCRATCH/'peer'
    total = Clocks()

    # one classifier for every sample set; the floor: training images against held-out ones
    print(f'peer: {data_name}, {len(train):,} / {len(valid):,}; device {device}; budgets {vqvae_seconds} s (VQ-VAE), {prior_seconds} s (prior)', flush=True)
    classifier = train_classifier(train, steps=100 if quick else DEFAULT_CONFIG['evaluate']['classifier_steps'], device=device)
    f_valid, p_valid = classifier_outputs(classifier, x_valid)
    valid_y = valid.labels.long()
    f_train, _ = classifier_outputs(classifier, x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:n]])
    fd = lambda images: frechet_distance(classifier_outputs(classifier, images)[0], f_valid)

    # 1. VQ-VAEs at equal budget
    vq_rows = []
    ours, t = train_ours(train, cfg, tcfg, vqvae_seconds, device)
    s, recon = vq_stats(ours.encode, ours.reconstruct, x_valid, cfg['num_codes'], device)
    vq_rows.append(dict(name='vqvae_nb', setting='CLI defaults', nets='vqvae_nb Encoder/Decoder', params=n_params(ours),
                        latent=f"{ours.latent_shape[0]}×{ours.latent_shape[1]}", K=cfg['num_codes'], D=cfg['code_dim'],
                        codebook='EMA' + (' + restart' if cfg.get('restart_threshold') else ''),
                        batch=tcfg['batch_size'], lr=tcfg['lr'], schedule=tcfg.get('lr_schedule', 'constant'), **t, **s,
                        fd_reconstructions=fd(recon)))
    print('peer:', vq_rows[-1], flush=True)
    peers = {}
    for kind in ('matched', 'defaults'):
        model, pc = build_peer(kind, cfg, tuple(x_train.shape[1:]))
        batch, lr = (tcfg['batch_size'], tcfg['lr']) if kind == 'matched' else (None, None)
        t = train_peer(model, x_train, vqvae_seconds, batch, lr, device, scratch/f'vqvae-{kind}')
        codes = lambda x, m=model: m({'data': x}).quantized_indices
        recon_fn = lambda x, m=model: m({'data': x}).recon_x
        s, recon = vq_stats(codes, recon_fn, x_valid, pc.num_embeddings, device)
        h, w = codes(x_valid[:1].to(device)).shape[-2:]
        tc = trainer_config(scratch/'x', batch, lr, device)
        vq_rows.append(dict(name='pythae', setting='matched to ours' if kind == 'matched' else 'documented defaults',
                            nets='vqvae_nb Encoder/Decoder (wrapped)' if kind == 'matched' else 'Encoder/Decoder_ResNet_VQVAE_MNIST',
                            params=n_params(model), latent=f'{h}×{w}', K=pc.num_embeddings, D=pc.embedding_dim,
                            codebook='EMA' if pc.use_ema else 'gradient', batch=tc.per_device_train_batch_size,
                            lr=tc.learning_rate, schedule='constant', **t, **s, fd_reconstructions=fd(recon)))
        peers[kind] = model
        print('peer:', vq_rows[-1], flush=True)
    best_kind = min(('matched', 'defaults'), key=lambda k: vq_rows[1 + ('matched', 'defaults').index(k)]['recon_mse'])
    best_peer = peers[best_kind]
    for r in vq_rows: r['ms_per_step_cpu'], r['ms_per_step_wall'] = 1000 * r['cpu_s'] / r['steps'], 1000 * r['wall_s'] / r['steps']

    # 2. priors at equal budget, 3. samples scored by the same classifier
    prior_rows = []
    tr_codes, tr_labels = encode_dataset(ours, train, device=device)
    va_codes, va_labels = encode_dataset(ours, valid, device=device)
    gen = torch.Generator().manual_seed(0)
    for cond in (True, False):
        torch.manual_seed(0)
        prior = GatedPixelCNN(cfg['num_codes'], num_classes=10 if cond else None, **prior_arch)
        t = fit_prior_for(prior, tr_codes, tr_labels if cond else None, prior_seconds, pcfg['batch_size'], pcfg['lr'], device)
        y = valid_y.repeat(math.ceil(n / len(valid_y)))[:n] if cond else None
        imgs = torch.cat([sample_images(ours, prior, min(250, n - s), None if y is None else y[s:s + 250], generator=gen).cpu()
                          for s in range(0, n, 250)])
        feats, preds = classifier_outputs(classifier, imgs)
        prior_rows.append(dict(name='vqvae_nb', prior=f"GatedPixelCNN ({'class-conditional' if cond else 'unconditional'})",
                               on='vqvae_nb VQ-VAE', params=n_params(prior), batch=pcfg['batch_size'], lr=pcfg['lr'],
                               schedule='cosine to lr/20', **t,
                               heldout_bits=prior_nll_bits(prior, va_codes, va_labels if cond else None),
                               fd_samples=frechet_distance(feats, f_valid),
                               sample_accuracy=float((preds == y).float().mean()) if cond else None))
        print('peer:', prior_rows[-1], flush=True)
    sampler, t = fit_peer_prior(best_peer, x_train, prior_seconds, pcfg['batch_size'], pcfg['lr'], device, scratch/'prior')
    bits = peer_prior_bits(sampler.pixelcnn_model, peer_encode(best_peer, x_valid, device), device)
    fds = {}
    for mode in ('train', 'eval'):  # pythae samples in whatever mode its fit leaves the PixelCNN: train (batch-norm on the batch)
        sampler.pixelcnn_model.train(mode == 'train')
        torch.manual_seed(0)
        with torch.no_grad(), ema_lookup(best_peer): imgs = sampler.sample(num_samples=n, batch_size=500).float().clamp(0, 1).cpu()
        fds[mode] = frechet_distance(classifier_outputs(classifier, imgs)[0], f_valid)
    mode = min(fds, key=fds.get)
    prior_rows.append(dict(name='pythae', prior='PixelCNNSampler (default PixelCNN; unconditional only)',
                           on=f'pythae VQ-VAE ({best_kind})', params=n_params(sampler.pixelcnn_model), batch=pcfg['batch_size'],
                           lr=pcfg['lr'], schedule='constant', **t, heldout_bits=bits, fd_samples=fds[mode],
                           fd_samples_train_mode=fds['train'], fd_samples_eval_mode=fds['eval'], sampled_in=f'{mode} mode', ema_sampling_workaround=best_peer.model_config.use_ema,
                           sample_accuracy=None))
    print('peer:', prior_rows[-1], flush=True)
    for r in prior_rows: r['ms_per_step_cpu'], r['ms_per_step_wall'] = 1000 * r['cpu_s'] / r['steps'], 1000 * r['wall_s'] / r['steps']

    best = vq_rows[1 + ('matched', 'defaults').index(best_kind)]
    headline = dict(mse_ratio=vq_rows[0]['recon_mse'] / best['recon_mse'],
                    fd_ours_unconditional=prior_rows[1]['fd_samples'], fd_ours_conditional=prior_rows[0]['fd_samples'],
                    fd_peer=prior_rows[2]['fd_samples'], peer_vqvae=best_kind)
    headline['mse_target_met'] = headline['mse_ratio'] <= 0.5
    headline['fd_target_met'] = headline['fd_ours_unconditional'] < headline['fd_peer']
    return dict(dataset=data_name, train_valid=f'{len(train):,} / {len(valid):,}', device=str(device),
                clock='CPU time of the process (time.process_time)' if device.type == 'cpu' else 'wall time',
                vqvae_seconds=vqvae_seconds, prior_seconds=prior_seconds, n_samples=n, pythae_version=pythae.__version__
                if hasattr(pythae, '__version__') else _version('pythae'), vqvae_rows=vq_rows, prior_rows=prior_rows,
                classifier_heldout_accuracy=float((p_valid == valid_y).float().mean()),
                fd_train_heldout=frechet_distance(f_train, f_valid), headline=headline, run_cpu_s=total.read()['cpu_s'])

def _version(name):
    from importlib.metadata import version
    return version(name)

# ---------------------------------------------------------------------------------------------- tables
def markdown(res:dict) -> str:
    if 'skipped' in res: return f"### Peer: vqvae_nb against pythae\n\nNot measured: {res['skipped']}."
    vq = [dict(r, who=f"{r['name']}: {r['setting']}", time=f"{r['cpu_s']:.0f} / {r['wall_s']:.0f}",
               ms=f"{r['ms_per_step_cpu']:.0f} / {r['ms_per_step_wall']:.0f}", codes=f"{r['codes_used']} / {r['K']}",
               opt=f"{r['batch']}, {r['lr']:g} {r['schedule']}") for r in res['vqvae_rows']]
    pr = [dict(r, who=f"{r['name']}: {r['prior']}", time=f"{r['cpu_s']:.0f} / {r['wall_s']:.0f}",
               ms=f"{r['ms_per_step_cpu']:.0f} / {r['ms_per_step_wall']:.0f}", opt=f"{r['batch']}, {r['lr']:g} {r['schedule']}",
               acc=(f"{r['sample_accuracy']:.0%}" if r['sample_accuracy'] is not None else
                    'not supported' if r['name'] == 'pythae' else '– (unconditional)')) for r in res['prior_rows']]
    h = res['headline']
    clock = 'CPU' if res['device'] == 'cpu' else 'wall'
    return (f"### Peer: vqvae_nb against pythae {res['pythae_version']} at equal {clock} time\n\n"
            f"{res['dataset']}: {res['train_valid']} images (train / held-out); budget {res['vqvae_seconds']:g} s per "
            f"VQ-VAE and {res['prior_seconds']:g} s per prior of {res['clock']}, on {res['device']}. Held-out images throughout; "
            "both packages' reconstructions clamped to [0, 1] and scored by the same code.\n\n"
            + md_table(vq, dict(who='VQ-VAE', nets='encoder / decoder', params='parameters', latent='code map', codes='codes used / K',
                                D='D', codebook='codebook', opt='batch, lr', steps='steps', time='CPU / wall s',
                                ms='ms per step (CPU / wall)', recon_mse='held-out MSE', perplexity='perplexity',
                                fd_reconstructions='FD reconstructions')) +
            f"\n\nPriors over each VQ-VAE's codes (pythae's on its better VQ-VAE, `{h['peer_vqvae']}`), {res['n_samples']:,} samples "
            "each, scored by one classifier trained on the training images "
            f"({res['classifier_heldout_accuracy']:.1%} on held-out images; FD of training to held-out images, the floor: "
            f"{res['fd_train_heldout']:.3g}).\n\n"
            + md_table(pr, dict(who='prior', on='over the codes of', params='parameters', opt='batch, lr', steps='steps',
                                time='CPU / wall s', ms='ms per step (CPU / wall)', heldout_bits='held-out bits/code',
                                fd_samples='FD samples', acc='samples read as their class')) +
            "\n\nBits per code compare priors only over the same codes: each prior here models its own VQ-VAE's codes, "
            "and a codebook with fewer codes in use (lower perplexity above) is easier to predict. FD is the comparable "
            "measure. pythae's sampler has no class conditioning; its PixelCNN was sampled both as pythae leaves it (train "
            "mode, batch-norm on the batch being sampled) and in eval mode, and the better FD is shown." +
            f"\n\nHeld-out MSE ours / pythae's best: **{h['mse_ratio']:.2f}** (target ≤ 0.5: {'met' if h['mse_target_met'] else 'not met'}); "
            f"sample FD, unconditional: ours **{h['fd_ours_unconditional']:.3g}** vs pythae **{h['fd_peer']:.3g}** "
            f"({'lower' if h['fd_target_met'] else 'not lower'}); class-conditional ours: {h['fd_ours_conditional']:.3g}."
            + ("" if h['mse_target_met'] or h['peer_vqvae'] != 'matched' else
               " pythae's better VQ-VAE runs our own encoder and decoder at our speed per step, so the MSE gap is the "
               "training recipe alone (ours: cosine decay of the lr to 0 at the budget, mean-squared error; pythae: a constant "
               "lr and its squared error summed over pixels, the scheduler stepped per epoch only): at equal nets and equal "
               "time, halving the peer's MSE would need a better model than the one both run, not a faster loop."))

def write_peer_md(res:dict) -> Path:
    "benchmarks/results/PEER.md from a peer.json result."
    path = RESULTS/'PEER.md'
    quick = ' — **quick run** (tiny budgets: checks that it runs)' if res.get('quick') else ''
    took = f"; took {res['seconds']:.0f} s wall in all" if 'seconds' in res else ''
    path.write_text(f"# vqvae_nb against pythae\n\nMade by `python benchmarks/bench_peer.py` (or `benchmarks/run.py --only peer`).\n\n"
                    f"{markdown(res)}\n\n*{machine_line(res['machine'])}{took}{quick}.*\n")
    return path

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--vqvae-seconds', type=float, default=120, help='budget per VQ-VAE (CPU seconds; wall seconds on a GPU)')
    p.add_argument('--prior-seconds', type=float, default=60, help='budget per prior')
    p.add_argument('--mnist', default=None, help='folder with t10k-*-ubyte[.gz] (default: get_dataset("mnist") under $VQVAE_NB_DATA)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    p.add_argument('--cpu-only', action='store_true', help='skip CUDA even when available')
    p.add_argument('--quick', action='store_true', help='tiny budgets: checks that everything runs')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    devs = all_devices()[:1] if args.cpu_only else all_devices()
    start = time.perf_counter()
    res = run(quick=args.quick, devices=devs, mnist=args.mnist, vqvae_seconds=args.vqvae_seconds, prior_seconds=args.prior_seconds)
    res['seconds'] = time.perf_counter() - start
    path = save('peer', res, args.quick)
    print(f'peer: {res["seconds"]:.0f} s -> {path}, {write_peer_md(load("peer"))}')

if __name__ == '__main__': main()
