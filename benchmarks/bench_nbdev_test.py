"""nbdev_test wall time: `nbdev_test --timing` in the repository root, per notebook and in total.

nbdev runs the notebooks in parallel (its default number of workers), so the per-notebook times add up
to more than the total. `--quick` changes nothing here: the test suite is what it is.
"""
from __future__ import annotations
import re, subprocess, sys, time
from pathlib import Path
from common import md_table

def run(quick=False, devices=('cpu',)) -> dict:
    root = Path(__file__).parents[1]
    start = time.perf_counter()
    proc = subprocess.run(['nbdev_test', '--timing'], cwd=root, capture_output=True, text=True)
    total = time.perf_counter() - start
    notebooks = [dict(notebook=m[1], seconds=int(m[2]))
                 for m in re.finditer(r'^(\S+\.ipynb): (\d+) secs$', proc.stdout, re.M)]
    if proc.returncode: sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    print(f'nbdev_test: {total:.0f} s, {len(notebooks)} notebooks, exit code {proc.returncode}', flush=True)
    return dict(total_s=total, passed=proc.returncode == 0, notebooks=notebooks)

def markdown(res:dict) -> str:
    rows = res['notebooks'] + [dict(notebook='**total (wall, notebooks in parallel)**', seconds=round(res['total_s']))]
    return ("### `nbdev_test --timing`\n\n"
            f"All notebooks, as CI runs them (tests {'passed' if res['passed'] else '**FAILED**'}); "
            "seconds per notebook, slowest first.\n\n" + md_table(rows, dict(notebook='notebook', seconds='seconds')))
