"""Drop what kernel widgets leave in an executed notebook: their views in the cells' outputs and the
widget state nbclient saves in the notebook's metadata.

The book renders no ipywidgets (the explorers are self-contained HTML outputs), and a kernel widget
(the playgrounds of Chapters 4 and 6) cannot work on a static page: a stored view would be a dead
widget there and in every notebook viewer, and the stored state would make the page load the
widget manager. `make execute` runs this after executing each chapter.

    python scripts/drop_widgets.py notebooks/04_detection.ipynb [...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_widgets(notebook: nbformat.NotebookNode) -> int:
    """Remove widget views from ``notebook``'s outputs and its widget state, in place; return the
    number of outputs removed."""
    notebook.metadata.pop("widgets", None)
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = [output for output in cell.outputs if WIDGET_VIEW not in output.get("data", {})]
        removed += len(cell.outputs) - len(kept)
        cell.outputs = kept
    return removed


def main(paths: list[str]) -> int:
    for path in map(Path, paths):
        notebook = nbformat.read(path, as_version=4)
        removed = drop_widgets(notebook)
        nbformat.write(notebook, path)
        if removed:
            print(f"{path}: dropped {removed} widget output(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
