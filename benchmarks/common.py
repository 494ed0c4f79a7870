"""Shared helpers for the benchmarks: timing, machine description, results files and tables."""
from __future__ import annotations
import json, os, platform, statistics, subprocess, time
from datetime import datetime, timezone
from pathlib import Path
import torch

RESULTS = Path(__file__).parent/'results'
SCRATCH = Path(__file__).parent/'scratch'  # git-ignored

def data_dir() -> Path:
    "The data root the benchmarks read: $VQVAE_NB_DATA, else ../shared/data next to the repository."
    return Path(os.environ.get('VQVAE_NB_DATA') or Path(__file__).resolve().parents[1].parent/'shared'/'data').expanduser()

def train_run(folder:Path, argv:list) -> dict:
    "`vqvae_nb train ARGV --out FOLDER --quiet` (its output in FOLDER.log) unless FOLDER holds a finished run; the run's metrics."
    import sys
    if not (folder/'metrics.json').is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, '-m', 'vqvae_nb.cli', 'train', *map(str, argv), '--out', str(folder), '--quiet']
        with open(folder.parent/f'{folder.name}.log', 'w') as log: subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    return json.loads((folder/'metrics.json').read_text())

def run_cases(name:str, cases:dict, measure, names=None) -> dict:
    "Measure each of `names` (default: every case) with `measure(case)`, saving results/NAME.json after each; every result so far."
    path = RESULTS/f'{name}.json'
    results = json.loads(path.read_text()) if path.is_file() else dict(cases={})
    for case in names or cases:
        results['cases'][case] = measure(case)
        results['machine'] = machine()
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(results, indent=1) + '\n')
        print(case, 'measured', flush=True)
    return results

def devices() -> list[torch.device]:
    "CPU always; CUDA too when there is one."
    return [torch.device('cpu')] + ([torch.device('cuda')] if torch.cuda.is_available() else [])

def sync(device):
    "Wait for queued GPU work so that wall time measures it."
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()

def time_it(fns:dict, repeats=5, warmup=1, device='cpu') -> dict:
    "Time each callable in `fns` `repeats` times, interleaved (A B A B ...) so that load changes hit all alike."
    for _ in range(warmup):
        for fn in fns.values(): fn()
    sync(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: dict(median_s=statistics.median(ts), times_s=ts) for name, ts in times.items()}

def ratio(timing:dict, slow:str, fast:str) -> float:
    "How many times faster `fast` ran than `slow`: median over rounds of the per-round ratio."
    return statistics.median(s/f for s, f in zip(timing[slow]['times_s'], timing[fast]['times_s']))

def matmul_flops(device='cpu', n=2048, repeats=5) -> float:
    "FLOP/s of an n×n fp32 `torch.mm` on `device`: this machine's practical matmul peak."
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    t = time_it({'mm': lambda: torch.mm(a, b)}, repeats=repeats, device=device)['mm']['median_s']
    return 2 * n**3 / t

def _cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def _git_commit() -> str|None:
    try: return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                               cwd=Path(__file__).parent, check=True).stdout.strip()
    except Exception: return None

def machine() -> dict:
    "What the numbers were measured on, and when."
    info = dict(date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), cpu=_cpu_model(),
                cores=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                python=platform.python_version(), load_avg_1min=round(os.getloadavg()[0], 2), commit=_git_commit())
    if torch.cuda.is_available(): info['gpu'] = torch.cuda.get_device_name()
    return info

def save(name:str, result:dict, quick:bool) -> Path:
    "Write one benchmark's results, with the machine, to results/NAME.json."
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS/f'{name}.json'
    path.write_text(json.dumps(dict(benchmark=name, quick=quick, machine=machine(), **result), indent=1) + '\n')
    return path

def load(name:str) -> dict|None:
    path = RESULTS/f'{name}.json'
    return json.loads(path.read_text()) if path.exists() else None

def fmt(x) -> str:
    "Numbers for tables: 3 significant digits, no noise."
    if isinstance(x, bool) or x is None: return {True: 'yes', False: 'no', None: '–'}[x]
    if isinstance(x, int): return f'{x:,}'
    if isinstance(x, float): return f'{x:.3g}' if abs(x) < 1000 else f'{x:,.0f}'
    return str(x)

def md_table(rows:list[dict], columns:dict) -> str:
    "A markdown table of `rows`; `columns` maps each key to its header."
    lines = ['| ' + ' | '.join(columns.values()) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(fmt(r.get(k)) for k in columns) + ' |' for r in rows]
    return '\n'.join(lines)

def machine_line(m:dict) -> str:
    gpu = f", GPU {m['gpu']}" if 'gpu' in m else ''
    return (f"{m['date']}: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads){gpu}, "
            f"torch {m['torch']}, load average {m['load_avg_1min']} at the end, commit {m['commit']}")
