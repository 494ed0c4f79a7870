"""Write README.md from nbs/index.ipynb, for machines without Quarto (where `nbdev_readme` cannot run).

Markdown cells as they are, code cells not marked `#| hide` in ```python fences, and their printed output.
Pictures stay on the docs site. `.ci/run` checks that README.md is what this script makes.
"""
import json, re, configparser
from pathlib import Path

root = Path(__file__).parents[1]
cfg = configparser.ConfigParser(); cfg.read(root/'settings.ini')
DOCS = cfg['DEFAULT']['doc_host'] + cfg['DEFAULT']['doc_baseurl']   # the docs site, where the notebooks are pages

def site_links(markdown:str) -> str:
    "Links to the notebooks and their pictures point at the docs site: relative links do not resolve on GitHub."
    markdown = re.sub(r'\]\((images/[\w.-]+)\)', lambda m: f'](' + DOCS + f'/{m.group(1)})', markdown)
    return re.sub(r'\]\((\w+)\.ipynb(#[\w-]+)?\)', lambda m: f'](' + DOCS + f'/{m.group(1)}.html{m.group(2) or ""})', markdown)

def readme_text(notebook:Path) -> str:
    "The README's text for `notebook`."
    parts = []
    for cell in json.loads(notebook.read_text())['cells']:
        source = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown': parts.append(site_links(source))
        elif cell['cell_type'] == 'code' and not source.startswith('#| hide'):
            parts.append(f'```python\n{source}\n```')
            parts += ['```\n' + ''.join(o['text']).rstrip() + '\n```'
                      for o in cell.get('outputs', []) if o.get('output_type') == 'stream']
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    (root/'README.md').write_text(readme_text(root/'nbs'/'index.ipynb'))
