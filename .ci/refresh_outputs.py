"""Run notebooks top to bottom on this machine and save their outputs in place.

The docs site shows the outputs saved in the notebooks, so after changing a notebook run
`python .ci/refresh_outputs.py nbs/03_quantizer.ipynb` (or no argument for all), then
`nbdev_clean`. Cells flagged with a `tst_flags` flag (`slow`, `cuda`) are skipped unless named
with `--flags`, exactly as `nbdev_test` does, and keep whatever outputs they had. Unlike
`nbdev_test`, IN_TEST is not set, so the notebooks run at their full tutorial sizes. Each notebook runs in a
process of its own, as in a fresh kernel: state one notebook sets (torch's thread count, seeds) never reaches the next.
"""
import sys, time, argparse, subprocess
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from nbdev.config import get_config
from nbdev.process import extract_directives
from fastcore.xtras import working_directory

def _skip(cell, flags):
    if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: return True
    directives = extract_directives(cell, remove=False)
    if directives.get('eval:', [''])[0].lower() == 'false': return True
    return bool(flags & directives.keys())

def refresh(path:Path, flags:set):
    nb = read_nb(path)
    shell = CaptureShell(path)
    start = time.time()
    for cell in nb.cells:  # a cell that prints nothing now must not keep what an older version printed
        if not _skip(cell, flags): cell.outputs, cell.execution_count = [], None
    with working_directory(path.parent):
        shell.run_all(nb, exc_stop=True, preproc=lambda c: _skip(c, flags))
    write_nb(nb, path)
    print(f'{path.name}: {time.time()-start:.0f} s')

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', type=Path)
    ap.add_argument('--flags', default='', help='space-separated test flags to run anyway, e.g. "slow cuda"')
    args = ap.parse_args()
    cfg = get_config()
    flags = set(cfg.tst_flags.split()) - set(args.flags.split())
    nbs = args.notebooks or sorted(Path(cfg.nbs_path).glob('[0-9]*.ipynb')) + [Path(cfg.nbs_path)/'index.ipynb']
    if len(nbs) == 1: refresh(nbs[0].resolve(), flags)
    else:
        for nb in nbs: subprocess.run([sys.executable, __file__, str(nb), '--flags', args.flags], check=True)
