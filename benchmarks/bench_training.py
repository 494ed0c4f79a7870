"""Training: images/s of one full step (forward, backward, Adam step) and the fraction of matmul peak it reaches.

FLOPs of a step (forward + backward; Adam's few element-wise FLOPs are not counted) come from
torch.utils.flop_counter.FlopCounterMode; the peak is the FLOP/s of a large fp32 torch.mm measured in
the same run, so the fraction compares the step with what this machine can do at best.
"""
from __future__ import annotations
from itertools import product
import torch
from torch.utils.flop_counter import FlopCounterMode
from common import time_it, matmul_flops, md_table

def configs(quick:bool) -> dict:
    "name -> (VQVAEConfig overrides, batch size, images' (C, H, W))."
    out = {'default': ({}, 128, (1, 28, 28)),
           'paper size (256 hidden, K=512, D=64)': (dict(hidden=256, res_hidden=256, num_codes=512, code_dim=64), 128, (1, 28, 28))}
    if not quick:  # the paper's CIFAR-10 shape
        out['paper size, CIFAR-10 images'] = (dict(hidden=256, res_hidden=256, num_codes=512, code_dim=64, in_channels=3, image_size=32), 128, (3, 32, 32))
    if quick: out = {k: (o, 32, s) for k, (o, b, s) in out.items()}
    return out

def make_step(model, opt, x, amp_dtype=None):
    "fit_vqvae's step: the loss of eq. 3 (`VQVAE.losses`), backward, Adam."
    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = model.losses(x)['loss']
        loss.backward()
        opt.step()
    return step

def step_flops(model, x) -> int:
    "FLOPs of one forward + backward."
    with FlopCounterMode(display=False) as counter:
        model.losses(x)['loss'].backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()

def variants(device) -> dict:
    "fp32 everywhere; on CUDA also what fit_vqvae does there: bf16 autocast and channels-last."
    out = {'fp32': (None, torch.contiguous_format)}
    if torch.device(device).type == 'cuda': out['bf16, channels-last'] = (torch.bfloat16, torch.channels_last)
    return out

def run(quick=False, devices=('cpu',)) -> dict:
    from vqvae_nb.training import VQVAE, VQVAEConfig
    repeats = 3 if quick else 10
    rows, peaks = [], {}
    for device in devices:
        peaks[str(device)] = matmul_flops(device, n=2048 if quick else 4096)
        for (name, (overrides, batch, shape)), (precision, (amp_dtype, memory_format)) in product(configs(quick).items(), variants(device).items()):
            torch.manual_seed(0)
            model = VQVAE(VQVAEConfig(**overrides)).to(device, memory_format=memory_format).train()
            opt = torch.optim.Adam(model.parameters(), lr=2e-4)
            x = torch.rand(batch, *shape, device=device).contiguous(memory_format=memory_format)
            flops = step_flops(model, x)
            t = time_it({'step': make_step(model, opt, x, amp_dtype)}, repeats=repeats, device=device)['step']['median_s']
            rows.append(dict(device=str(device), precision=precision, config=name, batch=batch, image=' × '.join(map(str, shape)),
                             params=sum(p.numel() for p in model.parameters()), step_ms=1e3 * t, images_per_s=batch / t,
                             gflops_per_step=flops / 1e9, achieved_gflops=flops / t / 1e9,
                             peak_gflops=peaks[str(device)] / 1e9, fraction_of_peak=flops / t / peaks[str(device)]))
            print(f"training {device} {precision} {name}: {rows[-1]['images_per_s']:.1f} images/s, "
                  f"{rows[-1]['fraction_of_peak']:.2f} of matmul peak", flush=True)
    return dict(rows=rows, repeats=repeats, matmul_peak_flops=peaks)

def markdown(res:dict) -> str:
    cols = dict(device='device', precision='precision', config='model', image='image', batch='batch', params='parameters', step_ms='step ms',
                images_per_s='images/s', gflops_per_step='GFLOP/step', achieved_gflops='GFLOP/s',
                peak_gflops='mm peak GFLOP/s', fraction_of_peak='fraction of peak')
    return ("### Training step: forward, backward, Adam\n\n"
            f"Median of {res['repeats']} steps. FLOPs of forward + backward counted by `FlopCounterMode`; "
            "peak = a large fp32 `torch.mm` timed in the same run (so bf16 rows can exceed 1). Inputs are random images of the shape shown.\n\n" + md_table(res['rows'], cols))
