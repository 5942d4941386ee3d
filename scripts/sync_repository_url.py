"""Point every chapter's Colab install cell at the repository named in _config.yml.

The repository URL is one setting (``repository.url`` and ``repository.branch`` in ``_config.yml``).
Run ``make sync-repository-url`` after changing it; ``tests/test_book.py`` fails while they disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
# The Colab cell names the repository on one line and installs from it on the next (two short lines, so
# that the code fits the page's 79 characters):
#     repo = "https://github.com/OWNER/NAME"
#     %pip install -q "mnv3lib @ git+{repo}@BRANCH"
REPOSITORY = re.compile(r'repo = "[^"]*"')
PIP_INSTALL = re.compile(r'%pip install -q "mnv3lib @ git\+\{repo\}@[^"]*"')


def install_lines(root: Path = ROOT) -> tuple[str, str]:
    """The Colab cell's two lines that install mnv3lib from the configured repository and branch."""
    config = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    url, branch = config["url"].rstrip("/"), config.get("branch", "main")
    return f'repo = "{url}"', f'%pip install -q "mnv3lib @ git+{{repo}}@{branch}"'


def main() -> int:
    repository, pip_install = install_lines()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cell = next(c for c in notebook.cells if c.cell_type == "code")
        if not (REPOSITORY.search(cell.source) and PIP_INSTALL.search(cell.source)):
            print(f"{path.name}: no Colab install cell found in the first code cell", file=sys.stderr)
            return 1
        updated = PIP_INSTALL.sub(lambda _: pip_install, REPOSITORY.sub(lambda _: repository, cell.source))
        if updated != cell.source:
            cell.source = updated
            nbformat.write(notebook, path)
            print(f"{path.name}: now installs from {repository}, {pip_install}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
