"""Write README.md from nbs/index.ipynb, for machines without Quarto (where `nbdev_readme` cannot run).

Markdown cells as they are, code cells not marked `#| hide` in ```python fences, and their printed output.
Pictures stay on the docs site. `.ci/run` checks that README.md is what this script makes.
"""
import json
from pathlib import Path

root = Path(__file__).parents[1]

def readme_text(notebook:Path) -> str:
    "The README's text for `notebook`."
    parts = []
    for cell in json.loads(notebook.read_text())['cells']:
        source = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown': parts.append(source)
        elif cell['cell_type'] == 'code' and not source.startswith('#| hide'):
            parts.append(f'```python\n{source}\n```')
            parts += ['```\n' + ''.join(o['text']).rstrip() + '\n```'
                      for o in cell.get('outputs', []) if o.get('output_type') == 'stream']
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    (root/'README.md').write_text(readme_text(root/'nbs'/'index.ipynb'))
