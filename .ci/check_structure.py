"""Check the package's architecture: each module states its concern, stays short, imports only earlier notebooks'
modules and only their public names, and has no long functions.

Run from the repository root: `python .ci/check_structure.py`. Exits non-zero and lists what is wrong.
"""
import ast, re, sys
from pathlib import Path

MAX_MODULE_LINES, MAX_FUNCTION_LINES = 460, 50
pkg = Path('vqvae_nb')
problems, order = [], {}
for py in sorted(pkg.glob('*.py')):
    m = re.search(r'File to edit: \.\./nbs/(\d+)([a-z]?)_\w+\.ipynb', py.read_text())  # 16b_x comes after 16_y, before 17_z
    if m: order[py.stem] = int(m.group(1)) + (ord(m.group(2)) - ord('a') + 1) / 10 if m.group(2) else int(m.group(1))

def imported(node):
    "(module, names) of an import of this package, or None."
    if isinstance(node, ast.ImportFrom):
        mod = node.module or ''
        if node.level == 1: return mod.split('.')[0] or None, [a.name for a in node.names]
        if mod.startswith('vqvae_nb.'): return mod.split('.')[1], [a.name for a in node.names]
        if mod == 'vqvae_nb' and node.level == 0: return None
    return None

for py in sorted(pkg.glob('*.py')):
    if py.stem.startswith('_') or py.stem not in order: continue
    text = py.read_text(); tree = ast.parse(text)
    lines = len(text.splitlines())
    doc = ast.get_docstring(tree)
    if not doc: problems.append(f'{py}: no module docstring stating its concern')
    if lines > MAX_MODULE_LINES: problems.append(f'{py}: {lines} lines (at most {MAX_MODULE_LINES})')
    for node in ast.walk(tree):
        got = imported(node)
        if got and got[0]:
            mod, names = got
            if mod not in order or mod == py.stem: continue
            if order[mod] >= order[py.stem]: problems.append(f'{py}: imports {mod}, a later or equal notebook\'s module')
            private = [n for n in names if n.startswith('_') and n != '__version__']
            if private: problems.append(f'{py}: imports private names {private} from {mod}')
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            if not body: continue
            n = body[-1].end_lineno - body[0].lineno + 1
            if n > MAX_FUNCTION_LINES: problems.append(f'{py}:{node.lineno}: {node.name} has a {n}-line body (at most {MAX_FUNCTION_LINES})')

print(f'{len(order)} modules checked: ' + ', '.join(f'{m} ({len((pkg/(m + ".py")).read_text().splitlines())})'
                                               for m in sorted(order, key=order.get)))
if problems:
    print('\n'.join(problems)); sys.exit(1)
print('structure OK')
