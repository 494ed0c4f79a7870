"""Workers of the tests that start several processes (nbs/27_distributed.ipynb, nbs/00_core.ipynb).

Each runs in a process that `vqvae_nb.core.spawn_workers('tests/workers.py:name', world_size, *args)` starts with
torchrun's environment, is called as `fn(rank, world_size, *args)`, and returns tensors and plain values.
"""
import torch
import torch.distributed as dist


def all_reduce_worker(rank:int, world_size:int, value:float=1.0) -> dict:
    "Join a gloo group and all-reduce `value · (rank + 1)`: a check that local workers can talk."
    dist.init_process_group('gloo')
    try:
        t = torch.tensor([value * (rank + 1)])
        dist.all_reduce(t)
        return {'rank': rank, 'sum': t}
    finally: dist.destroy_process_group()


def ema_worker(rank:int, world_size:int, batches:torch.Tensor, configs:list) -> list:
    "Train one `VectorQuantizerEMA` per config on `batches[:, rank]` (steps, world_size, B, D, ...) in the gloo group; each final state_dict."
    from vqvae_nb.ema import VectorQuantizerEMA
    dist.init_process_group('gloo')
    try:
        states = []
        for kwargs in configs:
            torch.manual_seed(0)                   # the same initial codebook on every rank, as DDP would broadcast
            vq = VectorQuantizerEMA(**kwargs)
            torch.manual_seed(1000 + rank)         # different random streams: agreement must come from rank 0
            for batch in batches[:, rank]: vq(batch)
            states.append(vq.state_dict())
        return states
    finally: dist.destroy_process_group()


def fit_worker(rank:int, world_size:int, config:dict, train_ds, valid_ds, init_seed:int, fit_kwargs:dict) -> dict:
    "A VQ-VAE from seed `init_seed + rank`, trained by `fit_vqvae` (which joins the process group itself); its weights and history."
    from vqvae_nb.model import VQVAE, VQVAEConfig
    from vqvae_nb.training import fit_vqvae
    torch.manual_seed(init_seed + rank)  # different initial weights on purpose: DDP must make rank 0's win
    model = VQVAE(VQVAEConfig.from_dict(config))
    history = fit_vqvae(model, train_ds, valid_ds, device='cpu', progress=False, **fit_kwargs)
    return {'state': model.state_dict(), 'history': history}


def perceptual_worker(rank:int, world_size:int, config:dict, disc_kwargs:dict, train_ds, fit_kwargs:dict) -> dict:
    "A VQ-VAE and a discriminator from seed `rank`, trained together by `fit_perceptual`; both networks' weights and the history."
    from vqvae_nb.model import VQVAE, VQVAEConfig
    from vqvae_nb.perceptual import PatchDiscriminator, fit_perceptual
    torch.manual_seed(rank)  # different initial weights on purpose: DDP must make rank 0's win
    model, disc = VQVAE(VQVAEConfig.from_dict(config)), PatchDiscriminator(**disc_kwargs)
    history = fit_perceptual(model, disc, train_ds, device='cpu', progress=False, **fit_kwargs)
    return {'model': model.state_dict(), 'disc': disc.state_dict(), 'history': history}


def prior_worker(rank:int, world_size:int, prior_kwargs:dict, codes, labels, fit_kwargs:dict) -> dict:
    "A Gated PixelCNN from seed `rank`, trained by `fit_prior` in a gloo group (which this worker joins); its weights and history."
    from vqvae_nb.pixelcnn import GatedPixelCNN
    from vqvae_nb.prior import fit_prior
    dist.init_process_group('gloo')
    try:
        torch.manual_seed(rank)  # different initial weights on purpose: DDP must make rank 0's win
        prior = GatedPixelCNN(**prior_kwargs)
        history = fit_prior(prior, codes, labels, device='cpu', progress=False, **fit_kwargs)
        return {'state': prior.state_dict(), 'history': history}
    finally: dist.destroy_process_group()


def classifier_worker(rank:int, world_size:int, images, labels, num_classes:int, fit_kwargs:dict) -> dict:
    "The evaluation classifier trained by `train_classifier(shard=True)` in a gloo group; its weights."
    from vqvae_nb.data import ImageTensorDataset
    from vqvae_nb.sampling import train_classifier
    dist.init_process_group('gloo')
    try:
        dataset = ImageTensorDataset(images, labels)
        dataset.num_classes = num_classes
        return {'state': train_classifier(dataset, device='cpu', shard=True, **fit_kwargs).state_dict()}
    finally: dist.destroy_process_group()


def run_worker(rank:int, world_size:int, config:dict, out:str, resume:bool=False) -> dict:
    "One process of `run_training` (which joins the process group itself): its log lines, its metrics and the weights it ends with."
    import json
    from vqvae_nb.config import RunConfig
    from vqvae_nb.pipeline import run_training
    lines = []
    result = run_training(RunConfig.from_dict(config), out, device='cpu', progress=False, resume=resume, log=lambda line: lines.append(str(line)))
    return dict(lines=lines, metrics=json.loads(json.dumps(result.metrics)), prior_state=result.prior.state_dict(),
                vqvae_state=result.vqvae.state_dict())
