"""Quantizer: forward + backward of vqvae_nb's quantizers against vector_quantize_pytorch.VectorQuantize.

Both sides get the same input (B, D, H, W), the same codebook (copied across) and the same work: a
Euclidean nearest-code search, the straight-through output, the loss, and a backward pass with a
fixed upstream gradient. VectorQuantize is configured to match the VQ-VAE paper:
  - `rotation_trick=False` (its default is True): the plain straight-through estimator;
  - `kmeans_init=False`, `threshold_ema_dead_code=0`, `use_cosine_sim=False` (defaults): Euclidean, no restarts;
  - against `VectorQuantizer` (codebook learnt by gradient): `learnable_codebook=True, ema_update=False`,
    `commitment_weight=1` (its single loss mse(z, e) sends gradients to both z and e);
  - against `VectorQuantizerEMA`: `ema_update=True, decay=0.99, eps=1e-5, commitment_weight=0.25`.
Nearest codes are compared in eval mode (no codebook update) on the same input and codebook.
"""
from __future__ import annotations
import torch
from common import time_it, ratio, md_table

SIZES = [dict(num_codes=512, code_dim=64, batch=16, side=32), dict(num_codes=8192, code_dim=64, batch=16, side=32)]

def make_pair(kind, num_codes, code_dim, device):
    "Our quantizer and a VectorQuantize configured to do the same work, sharing one codebook."
    from vector_quantize_pytorch import VectorQuantize
    from vqvae_nb.quantizer import VectorQuantizer
    common = dict(dim=code_dim, codebook_size=num_codes, accept_image_fmap=True, rotation_trick=False,
                  kmeans_init=False, threshold_ema_dead_code=0, use_cosine_sim=False)
    if kind == 'grad':
        ours = VectorQuantizer(num_codes, code_dim, beta=0.25)
        theirs = VectorQuantize(**common, learnable_codebook=True, ema_update=False, commitment_weight=1.0)
    else:
        from vqvae_nb.ema import VectorQuantizerEMA
        ours = VectorQuantizerEMA(num_codes, code_dim, beta=0.25, decay=0.99, eps=1e-5)
        theirs = VectorQuantize(**common, ema_update=True, decay=0.99, eps=1e-5, commitment_weight=0.25)
    codebook = torch.randn(num_codes, code_dim)  # well spread, so that near-ties are rare
    with torch.no_grad():
        ours.embedding.copy_(codebook)
        theirs.codebook = codebook
    return ours.to(device), theirs.to(device)

def same_codes(ours, theirs, z) -> dict:
    "Fraction of positions where both pick the same code; any disagreement must be a tie in fp64."
    ours.eval(); theirs.eval()
    with torch.no_grad():
        a, b = ours(z).indices, theirs(z)[1]
        ours.train(); theirs.train()
        flat = z.double().movedim(1, -1).reshape(-1, z.shape[1])
        codebook = ours.embedding.double()
        a, b = a.reshape(-1), b.reshape(-1)
        da, db = ((flat - codebook[a])**2).sum(1), ((flat - codebook[b])**2).sum(1)
        gap = (da - db).abs().max().item()  # 0 when they agree everywhere
    return dict(same_codes=(a == b).float().mean().item(), max_distance_gap=gap, ties_only=gap <= 1e-4 * db.max().item())

def fwd_bwd(module, z, upstream, ours:bool):
    "One forward + backward: straight-through output times a fixed gradient, plus the quantizer's loss."
    def step():
        z.grad = None
        module.zero_grad(set_to_none=True)
        if ours: out = module(z); z_q, loss = out.z_q, out.loss
        else: z_q, _, loss = module(z)
        ((z_q * upstream).sum() + loss).backward()
    return step

def run(quick=False, devices=('cpu',)) -> dict:
    repeats = 3 if quick else 10
    rows = []
    for device in devices:
        for size in SIZES:
            for kind in ('grad', 'ema'):
                torch.manual_seed(0)
                ours, theirs = make_pair(kind, size['num_codes'], size['code_dim'], device)
                z = torch.randn(size['batch'], size['code_dim'], size['side'], size['side'], device=device, requires_grad=True)
                upstream = torch.randn_like(z)
                check = same_codes(ours, theirs, z.detach())
                t = time_it({'ours': fwd_bwd(ours, z, upstream, True), 'theirs': fwd_bwd(theirs, z, upstream, False)},
                            repeats=repeats, device=device)
                rows.append(dict(device=str(device), quantizer=type(ours).__name__, **size,
                                 latents=size['batch'] * size['side']**2,
                                 ours_ms=1e3 * t['ours']['median_s'], theirs_ms=1e3 * t['theirs']['median_s'],
                                 speedup=ratio(t, 'theirs', 'ours'), **check, timings=t))
                print(f"quantizer {device} {rows[-1]['quantizer']:18} K={size['num_codes']:5}: "
                      f"{rows[-1]['ours_ms']:8.1f} ms vs {rows[-1]['theirs_ms']:8.1f} ms, "
                      f"{rows[-1]['speedup']:.2f}x, same codes {check['same_codes']:.4f}", flush=True)
    from importlib.metadata import version
    return dict(rows=rows, repeats=repeats, vector_quantize_pytorch=version('vector-quantize-pytorch'))

def markdown(res:dict) -> str:
    cols = dict(device='device', quantizer='vqvae_nb', num_codes='K', code_dim='D', latents='latents',
                ours_ms='vqvae_nb ms', theirs_ms='VectorQuantize ms', speedup='speed-up (×)',
                same_codes='same codes', ties_only='differences are ties')
    return (f"### Quantizer: forward + backward, vqvae_nb vs `vector_quantize_pytorch.VectorQuantize` {res['vector_quantize_pytorch']}\n\n"
            f"Batch 16 of 32×32 latents (16,384 vectors); median of {res['repeats']} interleaved runs; "
            "speed-up = median of per-round time ratios (target ≥ 2× on CPU). "
            "VectorQuantize: `rotation_trick=False`, Euclidean, no k-means, no dead-code restarts; "
            "vs VectorQuantizer `learnable_codebook=True, ema_update=False`; vs VectorQuantizerEMA "
            "`decay=0.99, eps=1e-5, commitment_weight=0.25`. Same codebook on both sides; nearest codes compared in eval mode.\n\n"
            + md_table(res['rows'], cols))
