"""Check the package's architecture: each module states its concern, stays short, imports only earlier notebooks'
modules and only their public names, and has no long functions; no module fills another module's table when it is
imported (what a caller can use must not depend on what else it imported); and each default value is written once,
in a configuration's field: a function or class that takes a configuration (`XConfig`) gives none of that
configuration's fields a default of its own.

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

def config_fields() -> dict:
    "Each configuration dataclass of the package (a class named ...Config with annotated fields) -> its field names."
    found = {}
    for py in pkg.glob('*.py'):
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith('Config'):
                found[node.name] = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    return found

def repeated_defaults(tree, fields:dict) -> list:
    "(function, parameter, config) for each parameter with a default whose function also takes that config, which holds the field."
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)): continue
        args = node.args.args + node.args.kwonlyargs
        defaults = dict(zip([a.arg for a in node.args.args][-len(node.args.defaults):], node.args.defaults)) if node.args.defaults else {}
        defaults.update({a.arg: d for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None})
        takes = {name for a in args if a.annotation is not None for name in fields if re.search(rf'\b{name}\b', ast.unparse(a.annotation))}
        out += [(node.name, a, c) for c in takes for a in defaults if a in fields[c]]
    return out

def fills_other_tables(tree) -> list:
    "Module-level statements that write into a name imported from another module (`TABLE['kind'] = ...`)."
    imported = {a.asname or a.name for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    out = []
    for n in tree.body:
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AugAssign) else []
        for t in targets:
            base = t
            while isinstance(base, (ast.Subscript, ast.Attribute)): base = base.value
            if t is not base and isinstance(base, ast.Name) and base.id in imported: out.append((n.lineno, ast.unparse(t)))
    return out

fields = config_fields()
for py in sorted(pkg.glob('*.py')):
    if py.stem.startswith('_') or py.stem not in order: continue
    tree = ast.parse(py.read_text())
    for fn, arg, cfg in repeated_defaults(tree, fields):
        problems.append(f'{py}: {fn} takes a {cfg} and gives its field {arg!r} a default of its own: let the field hold the default')
    for line, target in fills_other_tables(tree):
        problems.append(f'{py}:{line}: writes {target}, a table of another module, when imported: give the table its entries where it is defined')

# the command line's options come from the configuration's fields, in groups
import subprocess
help_text = subprocess.run([sys.executable, '-m', 'vqvae_nb.cli', 'train', '--help'], capture_output=True, text=True).stdout
missing = [g for g in ('data', 'model', 'quantizer', 'training', 'perceptual', 'prior', 'evaluation', 'run') if f'\n{g}:\n' not in help_text]
if missing: problems.append(f"vqvae_nb train --help lacks the option group(s) {missing}")

# nbdev_proc_nbs runs every cell that starts with an import when it renders the docs: such a cell must hold imports only
import json, re
IMPORT = re.compile(r'(from \S+ import|import )')
for nb_path in sorted(Path('nbs').glob('*.ipynb')):
    for i, cell in enumerate(json.loads(nb_path.read_text())['cells']):
        lines = ''.join(cell['source']).split('\n') if cell['cell_type'] == 'code' else []
        if lines and IMPORT.match(lines[0]) and any(l.strip() and not IMPORT.match(l) for l in lines):
            problems.append(f'{nb_path.name} cell {i}: starts with an import and runs code too; nbdev_proc_nbs executes such cells when it '
                            'renders the docs: put the imports in a cell of their own')

print(f'{len(order)} modules checked: ' + ', '.join(f'{m} ({len((pkg/(m + ".py")).read_text().splitlines())})'
                                               for m in sorted(order, key=order.get)))
if problems:
    print('\n'.join(problems)); sys.exit(1)
print('structure OK')
