"""Distributed training: images/s of the VQ-VAE and of the prior with 1 and 2 processes, and the scaling efficiency.

Each process trains on its own batch of the default size (weak scaling: W processes see W times the images per
step), in gloo processes of one thread on the CPU, or in NCCL processes of one GPU each when there are at least two
GPUs (one GPU: the one-process rate only). Throughput is images (or code maps) per second over the timed steps,
after warm-up steps; efficiency = (rate with W processes) / (W × rate with one). The CPU time of each process is
measured too: on a loaded machine images per CPU-second show the cost of the communication when wall time cannot.

    python benchmarks/bench_distributed.py [--quick]
"""
from __future__ import annotations
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import md_table

def _images(n:int, seed:int=0) -> torch.Tensor:
    "Blurry random blobs in [0, 1], 28×28: enough structure for codes to be used."
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 7, 7, generator=g)
    return torch.nn.functional.interpolate(x, size=28, mode='bilinear').clamp(0, 1)

def vqvae_worker(rank:int, world_size:int, device:str, steps:int, warmup:int, batch:int) -> dict:
    "Train the default VQ-VAE for `warmup + steps` steps; the seconds of the timed steps (from the loop's own clock)."
    from vqvae_nb.model import VQVAE, VQVAEConfig
    from vqvae_nb.training import fit_vqvae
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(hidden=64, res_hidden=32, num_codes=16, code_dim=16))
    cpu = {}
    def clock(step, model, history): cpu[step] = time.process_time()
    h = fit_vqvae(model, _images(4096), steps=warmup + steps, batch_size=batch, device=device, log_every=warmup,
                  eval_every=10**6, progress=False, callback=clock)
    return {'seconds': h['seconds'][-1] - h['seconds'][warmup - 1], 'cpu_seconds': cpu[warmup + steps] - cpu[warmup]}

def prior_worker(rank:int, world_size:int, device:str, steps:int, warmup:int, batch:int) -> dict:
    "Train the default class-conditional Gated PixelCNN on 7×7 maps: `warmup` steps, then `steps` timed ones."
    from vqvae_nb.core import join_process_group, barrier
    from vqvae_nb.training import fit_device
    from vqvae_nb.pixelcnn import GatedPixelCNN
    from vqvae_nb.prior import fit_prior
    _, world, local_rank, own = join_process_group(device)
    device = fit_device(device, local_rank, world)
    codes, labels = torch.randint(16, (4096, 7, 7), generator=torch.Generator().manual_seed(0)), torch.arange(4096) % 10
    make = lambda: GatedPixelCNN(16, hidden=32, num_layers=8, first_kernel_size=5, head_hidden=64, num_classes=10)
    fit_prior(make(), codes, labels, steps=warmup, batch_size=batch, device=device, progress=False)
    prior = make(); barrier()
    start, cpu = time.perf_counter(), time.process_time()
    fit_prior(prior, codes, labels, steps=steps, batch_size=batch, device=device, progress=False)
    if device.type == 'cuda': torch.cuda.synchronize()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if own: torch.distributed.destroy_process_group()
    return {'seconds': seconds, 'cpu_seconds': cpu}

def _rate(worker:str, world:int, device:str, steps:int, warmup:int, batch:int) -> tuple[float, float]:
    "Items per second of wall time over all processes (rank 0's clock), and per CPU-second of one process (the mean over processes)."
    from vqvae_nb.core import spawn_workers
    out = spawn_workers(f'bench_distributed:{worker}', world, device, steps, warmup, batch)
    return world * batch * steps / out[0]['seconds'], batch * steps / (sum(o['cpu_seconds'] for o in out) / world)

def run(quick=False, devices=('cpu',)) -> dict:
    steps, warmup = (20, 5) if quick else (100, 10)
    rows = []
    for device in map(str, devices):
        worlds = [1, 2] if device == 'cpu' or torch.cuda.device_count() >= 2 else [1]
        for what, worker, batch in (('VQ-VAE', 'vqvae_worker', 64), ('prior', 'prior_worker', 64)):
            rates = {w: _rate(worker, w, device, steps, warmup, batch) for w in worlds}
            for w, (r, per_cpu) in rates.items():
                rows.append(dict(device=device, model=what, processes=w, batch=batch, steps=steps, images_per_s=r,
                                 speedup=r / rates[1][0], efficiency=r / rates[1][0] / w,
                                 images_per_cpu_s=per_cpu, cpu_efficiency=per_cpu / rates[1][1]))
                print(f"distributed {device} {what} ×{w}: {r:.1f} images/s, efficiency {rows[-1]['efficiency']:.2f}", flush=True)
    return dict(rows=rows, steps=steps, warmup=warmup)

def markdown(res:dict) -> str:
    cols = dict(device='device', model='model', processes='processes', batch='batch per process', images_per_s='images/s',
                speedup='speed-up', efficiency='scaling efficiency', images_per_cpu_s='images per CPU-second of a process',
                cpu_efficiency='CPU efficiency')
    return ("### Several processes: DistributedDataParallel\n\n"
            f"Weak scaling: each process trains on its own batch; {res['steps']} timed steps after {res['warmup']} warm-up steps. "
            "CPU: gloo processes of one thread each; GPU: NCCL, one GPU per process (needs two GPUs for the second row). "
            "Efficiency = rate with W processes / (W × rate with one). On a shared, loaded machine the wall-clock rate says "
            "more about the load than about DistributedDataParallel; the CPU efficiency (images per CPU-second of one process, "
            "against one process alone) is the share of each process's work that is still training rather than communicating.\n\n" + md_table(res['rows'], cols))

if __name__ == '__main__':
    import argparse
    from common import save, devices as all_devices
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--cpu-only', action='store_true')
    a = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    res = run(a.quick, ['cpu'] if a.cpu_only else all_devices())
    res['seconds'] = time.time() - start
    print(save('distributed', res, a.quick))
    print(markdown(res))
