"""Sampling from the transformer prior: vqvae_nb.transformer.sample_codes_cached against sample_codes_naive.

The naive loop (vqvae_nb.sampling.sample_codes_naive) runs the whole map through the prior at each of
the H·W steps; the cached sampler keeps every layer's keys and values and runs one position per step.
The prior is untrained (speed does not depend on the weights), K=512, about 0.4 M parameters; both
samplers get the same seed and must draw the same codes (checked on every run). One torch thread.

    python benchmarks/bench_transformer_sampling.py [--quick] [--threads N]
"""
from __future__ import annotations
import argparse, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import md_table

def run(quick=False, device='cpu') -> dict:
    from vqvae_nb.transformer import TransformerPrior, sample_codes_cached
    from vqvae_nb.sampling import sample_codes_naive
    torch.manual_seed(0)
    prior = TransformerPrior(512, dim=96, depth=3, heads=4, max_shape=16).to(device).eval()
    params = sum(p.numel() for p in prior.parameters())
    g = lambda: torch.Generator(device).manual_seed(0)
    rows = []
    n = 8
    for shape in ([(8, 8)] if quick else [(8, 8), (16, 16)]):
        naive_t, cached_t, same = [], [], True
        for _ in range(1 if quick else 3):
            start = time.perf_counter(); naive = sample_codes_naive(prior, n, shape, generator=g()); naive_t.append(time.perf_counter() - start)
            start = time.perf_counter(); cached = sample_codes_cached(prior, n, shape, generator=g()); cached_t.append(time.perf_counter() - start)
            same &= torch.equal(naive, cached)
        rows.append(dict(shape=f'{shape[0]}×{shape[1]}', n=n, params=params, naive_s=statistics.median(naive_t),
                         cached_s=statistics.median(cached_t), speedup=statistics.median(a / b for a, b in zip(naive_t, cached_t)),
                         same_draws=same))
        r = rows[-1]
        print(f"transformer sampling {r['shape']} × {n}: naive {r['naive_s']:.2f} s, cached {r['cached_s']:.3f} s, "
              f"{r['speedup']:.1f}× faster, same draws: {same}", flush=True)
    return dict(rows=rows, threads=torch.get_num_threads())

def markdown(res:dict) -> str:
    cols = dict(shape='code map', n='samples', params='parameters', naive_s='naive s', cached_s='cached s',
                speedup='speed-up (×)', same_draws='same draws')
    return ("### Sampling codes from the transformer prior (K=512, untrained)\n\n"
            f"Median over repeats, {res['threads']} torch thread(s); target ≥ 10× at 16×16.\n\n" + md_table(res['rows'], cols))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(markdown(run(args.quick)))
