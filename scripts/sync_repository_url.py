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
INSTALL = re.compile(r'"mnv3lib @ git\+[^"@]+@[^"]+"')


def install_spec(root: Path = ROOT) -> str:
    """The pip requirement that installs mnv3lib from the configured repository and branch."""
    config = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return f'"mnv3lib @ git+{config["url"].rstrip("/")}@{config.get("branch", "main")}"'


def main() -> int:
    spec = install_spec()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cell = next(c for c in notebook.cells if c.cell_type == "code")
        updated = INSTALL.sub(spec, cell.source)
        if updated == cell.source and spec not in cell.source:
            print(f"{path.name}: no Colab install cell found in the first code cell", file=sys.stderr)
            return 1
        if updated != cell.source:
            cell.source = updated
            nbformat.write(notebook, path)
            print(f"{path.name}: now installs {spec}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
