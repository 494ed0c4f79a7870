"""Sampling: vqvae_nb.sampling.sample_codes against sample_codes_naive (the full map, H·W times).

The prior is the default GatedPixelCNN over K=512 codes, untrained (speed does not depend on the
weights). Every step of the naive loop runs the same full-map forward, so where running all H·W of
them would take too long (32×32 on a CPU) the naive time is its first `naive_steps` steps, timed, times
H·W / naive_steps; the table says so. Both samplers draw the same codes from the same generator: checked at 7×7.
"""
from __future__ import annotations
import time, statistics
import torch
from common import sync, md_table

class _Stop(Exception): pass

def time_naive(sample, prior, n, shape, steps=None, device='cpu') -> tuple[float, bool]:
    "Seconds for the naive sampler; with `steps`, stop after that many forwards and extrapolate to H·W."
    total = shape[0] * shape[1]
    if steps is None or steps >= total:
        start = time.perf_counter(); sample(prior, n, shape); sync(device)
        return time.perf_counter() - start, False
    calls = 0
    def count(module, args):
        nonlocal calls
        calls += 1
        if calls == 2: marks.append(time.perf_counter())  # skip the first call's one-off costs
        if calls == steps + 2: raise _Stop
    marks = []
    handle = prior.register_forward_pre_hook(count)
    try: sample(prior, n, shape)
    except _Stop: sync(device); marks.append(time.perf_counter())
    finally: handle.remove()
    return (marks[1] - marks[0]) / steps * total, True

def run(quick=False, devices=('cpu',)) -> dict:
    from vqvae_nb.pixelcnn import GatedPixelCNN
    from vqvae_nb.sampling import sample_codes, sample_codes_naive
    n = 8 if quick else 64
    rows = []
    for device in devices:
        torch.manual_seed(0)
        prior = GatedPixelCNN(512).to(device).eval()
        g = lambda: torch.Generator(device).manual_seed(0)
        same = torch.equal(sample_codes(prior, n, (7, 7), generator=g()), sample_codes_naive(prior, n, (7, 7), generator=g()))
        for shape in [(7, 7), (32, 32)]:
            full = shape == (7, 7) or str(device) != 'cpu'
            repeats = (3 if quick else 5) if shape == (7, 7) else (1 if quick else 3)
            fast, naive, extrapolated = [], [], False
            for _ in range(repeats):
                sync(device); start = time.perf_counter()
                sample_codes(prior, n, shape); sync(device)
                fast.append(time.perf_counter() - start)
                t, extrapolated = time_naive(sample_codes_naive, prior, n, shape, None if full else (8 if quick else 32), device)
                naive.append(t)
            rows.append(dict(device=str(device), shape=f'{shape[0]}×{shape[1]}', n=n, fast_s=statistics.median(fast),
                             naive_s=statistics.median(naive), naive_extrapolated=extrapolated,
                             speedup=statistics.median(a / b for a, b in zip(naive, fast)), same_draws_7x7=same,
                             fast_times_s=fast, naive_times_s=naive))
            print(f"sampling {device} {rows[-1]['shape']}: fast {rows[-1]['fast_s']:.2f} s, naive {rows[-1]['naive_s']:.2f} s"
                  f"{' (extrapolated)' if extrapolated else ''}, {rows[-1]['speedup']:.1f}x", flush=True)
    return dict(rows=rows)

def markdown(res:dict) -> str:
    cols = dict(device='device', shape='code map', n='samples', fast_s='sample_codes s', naive_s='naive s',
                naive_extrapolated='naive extrapolated', speedup='speed-up (×)', same_draws_7x7='same draws (7×7)')
    return ("### Sampling codes from the Gated PixelCNN prior (K=512, default size)\n\n"
            "Median over repeats (target ≥ 2× at 32×32). \"naive extrapolated\": the naive loop's first steps, "
            "timed and scaled to all H·W steps (each runs the same full-map forward).\n\n" + md_table(res['rows'], cols))
