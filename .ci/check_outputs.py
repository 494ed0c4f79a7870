"""Read the saved notebooks as a docs reader meets them, and fail on what would trip the reader: progress-bar floods
(carriage-return frames), very long stream outputs, machine paths (temporary folders, home directories), floats
printed to all their digits, and words of the project's bookkeeping in prose, code or outputs.

Run from the repository root: `python .ci/check_outputs.py [notebooks...]` (default: nbs/*.ipynb).
"""
import json, re, sys
from pathlib import Path

MAX_STREAM_CHARS, MAX_CR = 20_000, 20
BOOKKEEPING = re.compile(r'\b(the|this|that|an|my|our) (issue|ticket|session)s?\b|\bissue #?\d+|\bTODO\b|\bFIXME\b', re.I)
LONG_FLOAT = re.compile(r'\d\.\d{9,}')  # a float printed whole: round it for the reader
MACHINE_PATH = re.compile(r'(?<![\w.])/(?:tmp|home|root|work|Users|private/var)/|\.\./shared|[A-Z]:\\\\Users')

def outputs_text(cell):
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': yield 'stream', ''.join(o.get('text', ''))
        elif 'data' in o:
            for kind in ('text/plain', 'text/markdown', 'text/html'):
                if kind in o['data']: yield kind, ''.join(o['data'][kind])

def check(path:Path) -> list:
    found = []
    for i, c in enumerate(json.loads(path.read_text())['cells']):
        src = ''.join(c.get('source', ''))
        m = BOOKKEEPING.search(src) or (c['cell_type'] == 'markdown' and MACHINE_PATH.search(src))
        if m: found.append(f'{path} cell {i}: {"prose" if c["cell_type"] == "markdown" else "code"} says "{m.group(0)}"')
        for kind, text in outputs_text(c):
            if kind == 'stream' and (text.count('\r') > MAX_CR or len(text) > MAX_STREAM_CHARS):
                found.append(f'{path} cell {i}: stream output of {len(text):,} characters with {text.count(chr(13))} '
                             f'carriage returns (a progress bar? pass progress=False)')
            m = MACHINE_PATH.search(text) or BOOKKEEPING.search(text) or (kind != 'text/html' and LONG_FLOAT.search(text))
            if m: found.append(f'{path} cell {i}: saved output shows "{m.group(0)}"')
    return found

if __name__ == '__main__':
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path('nbs').glob('*.ipynb'))
    problems = [p for path in paths for p in check(path)]
    print('\n'.join(problems) if problems else f'{len(paths)} notebooks: saved outputs read cleanly')
    sys.exit(1 if problems else 0)
