"""The chapters' "On real photographs" sections run their online path, offline: each section's cells
(tagged ``real-photos``, self-contained) are taken out of the chapter and executed under nbclient
with a torch.hub cache of TorchVision's weight files holding random weights (``fake_torch_home``).

The committed chapters show the offline path (one line: "Run this chapter in Colab to see ...");
strict nbval checks it on a machine without the weights, and this file checks it on any machine
(with an empty cache and no network). It also checks the other path, which only Colab readers would
otherwise run: that every cell of the section executes with weights present, and prints no note.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import mnv3lib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
REAL_PHOTOS_TAG = "real-photos"
OFFLINE_NOTE = "Run this chapter in Colab to see"
# The chapters that issue 30 gives an "On real photographs" section.
CHAPTERS_WITH_REAL_PHOTOS = ("01_anatomy", "03_quantization", "04_detection", "05_ssdlite", "06_segmentation", "07_deployment")


def tagged_section(notebook: nbformat.NotebookNode, tag: str = REAL_PHOTOS_TAG) -> nbformat.NotebookNode:
    """A notebook of the code cells of ``notebook`` tagged ``tag``, in order, without their outputs."""
    section = nbformat.v4.new_notebook(metadata=notebook.metadata)
    for cell in notebook.cells:
        if cell.cell_type == "code" and tag in cell.get("metadata", {}).get("tags", []):
            section.cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": list(cell.metadata["tags"])}))
    return section


def run_section(section: nbformat.NotebookNode, cwd: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute ``section`` in a fresh kernel in ``cwd`` (as the chapter runs in ``notebooks/``). The kernel
    imports the mnv3lib this test imports (this checkout, or the installed copy under the Colab job),
    and inherits the environment: ``TORCH_HOME``, the proxies that refuse the network."""
    library = str(Path(mnv3lib.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [library, os.environ.get("PYTHONPATH")])))
    client = NotebookClient(section, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    return client.execute(env=env)


def printed(notebook: nbformat.NotebookNode) -> str:
    """Everything the cells printed or returned as text."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") if output.output_type == "stream" else output.get("data", {}).get("text/plain", ""))
    return "".join(texts)


def _chapters_with_sections() -> list[Path]:
    return [path for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if tagged_section(nbformat.read(path, as_version=4)).cells]


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_REAL_PHOTOS)
def test_the_chapter_has_a_real_photos_section(chapter: str) -> None:
    path = NOTEBOOKS / f"{chapter}.ipynb"
    assert path.is_file(), f"{path.relative_to(ROOT)} is listed as having an 'On real photographs' section but does not exist"
    section = tagged_section(nbformat.read(path, as_version=4))
    assert section.cells, f"{path.relative_to(ROOT)} has no code cell tagged {REAL_PHOTOS_TAG!r}"


@pytest.mark.parametrize("path", _chapters_with_sections(), ids=lambda p: getattr(p, "stem", str(p)))
def test_the_real_photos_section_runs_with_weights(path: Path, fake_torch_home: Path) -> None:
    executed = run_section(tagged_section(nbformat.read(path, as_version=4)), NOTEBOOKS)
    text = printed(executed)
    assert OFFLINE_NOTE not in text, f"the section took its offline path with the weights cached:\n{text}"
    assert any(cell.outputs for cell in executed.cells), "the section showed nothing"


@pytest.mark.parametrize("path", _chapters_with_sections(), ids=lambda p: getattr(p, "stem", str(p)))
def test_the_real_photos_section_says_so_in_one_line_offline(path: Path, empty_torch_home: Path) -> None:
    """What the published page shows, whatever the machine's cache: one line, the note, and nothing else."""
    executed = run_section(tagged_section(nbformat.read(path, as_version=4)), NOTEBOOKS)
    lines = printed(executed).splitlines()
    assert len(lines) == 1 and lines[0].startswith(OFFLINE_NOTE), f"expected one line, the offline note; got {lines}"
    assert not [o for cell in executed.cells for o in cell.outputs if o.output_type != "stream"], "offline, the section shows only its note"


FIXTURE_CELLS = (
    ("raise RuntimeError('an untagged cell ran')", []),
    (
        "from torchvision.models import MobileNet_V3_Small_Weights\n\n"
        "from mnv3lib.analysis.predict import classify, top_classes\n"
        "from mnv3lib.data.photos import load_photographs\n"
        "from mnv3lib.models.pretrained import load_pretrained\n\n"
        "photos = load_photographs(['coffee', 'chelsea'])",
        [REAL_PHOTOS_TAG],
    ),
    (
        "models, note = load_pretrained({'Small': MobileNet_V3_Small_Weights.DEFAULT}, to_see='what MobileNetV3 names')\n"
        "if note:\n    print(note)",
        [REAL_PHOTOS_TAG],
    ),
    (
        "if models:\n"
        "    small = models['Small']\n"
        "    for name, top in zip(photos, top_classes(classify(small.model, photos.values(), small.transforms()), small.categories, k=1)):\n"
        "        print(name, top[0][0], small.categories.index(top[0][0]))",
        [REAL_PHOTOS_TAG, "nbval-ignore-output"],
    ),
)


def fixture_notebook() -> nbformat.NotebookNode:
    """A small chapter: an untagged cell that must not run, then a two-cell section in the chapters' style."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("## On real photographs", metadata={"tags": [REAL_PHOTOS_TAG]})]
    notebook.cells += [nbformat.v4.new_code_cell(source, metadata={"tags": tags}) for source, tags in FIXTURE_CELLS]
    return notebook


def test_the_harness_runs_only_the_tagged_cells_and_their_online_path(tmp_path: Path, fake_torch_home: Path) -> None:
    section = tagged_section(fixture_notebook())
    assert [cell.source for cell in section.cells] == [source for source, tags in FIXTURE_CELLS[1:]]
    lines = printed(run_section(section, tmp_path)).splitlines()
    assert [line.split()[0] for line in lines] == ["coffee", "chelsea"]
    import torchvision

    categories = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT.meta["categories"]
    assert all(categories[int(line.split()[-1])] == " ".join(line.split()[1:-1]) for line in lines)


def test_offline_the_section_says_so_in_one_line_at_once(tmp_path: Path, empty_torch_home: Path) -> None:
    """The published book's path: no weights, no network. The note is the section's only output, and
    the cell that prints it (once the imports are done) answers within seconds, not a time-out."""
    executed = run_section(tagged_section(fixture_notebook()), tmp_path)
    assert printed(executed) == "Run this chapter in Colab to see what MobileNetV3 names: TorchVision's pretrained weights cannot be downloaded here.\n"
    timing = executed.cells[1].metadata["execution"]
    seconds = (datetime.fromisoformat(timing["shell.execute_reply"]) - datetime.fromisoformat(timing["iopub.execute_input"])).total_seconds()
    assert seconds < 5, f"the loading cell took {seconds:.1f} s offline"
