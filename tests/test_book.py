"""The book is consistent: every page is in the table of contents, every chapter is committed executed,
starts with the Colab install cell for the configured repository, and follows each widget with a
static figure; the widget JavaScript is vendored and every citation resolves."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from sync_repository_url import install_spec  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
IGNORE_TAG = "nbval-ignore-output"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_chapters() -> None:
    assert NOTEBOOKS, "no chapters found in notebooks/"


def test_toc_and_pages_agree() -> None:
    listed = _toc_files()
    for name in listed:
        assert list(ROOT.glob(f"{name}.*")), f"_toc.yml lists {name}, which does not exist"
    pages = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").rglob("*.md")}
    chapters = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert pages | chapters == set(listed), "every page and chapter must be listed in _toc.yml, and only those"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_starts_with_the_colab_install_cell(path: Path) -> None:
    first = _source(_code_cells(path)[0])
    assert '"google.colab" in sys.modules' in first and "%pip install" in first
    assert install_spec(ROOT) in first, "run `make sync-repository-url`: the Colab cell and _config.yml disagree"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(path: Path) -> None:
    """No code line is longer than 88 characters, so the published page never scrolls sideways."""
    long = [line for cell in _code_cells(path) for line in _source(cell).splitlines() if len(line) > 88]
    assert not long, f"{len(long)} code lines over 88 characters, e.g. {long[0]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_is_committed_executed_without_errors(path: Path) -> None:
    cells = _code_cells(path)
    assert all(c["execution_count"] is not None for c in cells if _source(c).strip()), "unexecuted cells"
    counts = [c["execution_count"] for c in cells if _source(c).strip()]
    assert counts == list(range(1, len(counts) + 1)), "cells were not executed top to bottom in one kernel"
    assert not [c for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    size = sum(len(json.dumps(c["outputs"])) for c in cells)
    assert size < 3_000_000, f"outputs weigh {size / 1e6:.1f} MB"


def _is_explorer(output: dict) -> bool:
    """An explorer's self-contained HTML output (mnv3lib.viz.widgets.Explorer)."""
    html = output.get("data", {}).get("text/html", "")
    return 'class="mnv3-explorer"' in ("".join(html) if isinstance(html, list) else html)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_widgets_have_state_and_a_static_figure_after_them(path: Path) -> None:
    notebook = json.loads(path.read_text())
    cells = _code_cells(path)
    widget_cells = [i for i, c in enumerate(cells) if any(WIDGET_VIEW in o.get("data", {}) or _is_explorer(o) for o in c["outputs"])]
    if not widget_cells:
        return
    if any(WIDGET_VIEW in o.get("data", {}) for c in cells for o in c["outputs"]):
        assert "application/vnd.jupyter.widget-state+json" in notebook["metadata"].get("widgets", {})
    for i in widget_cells:
        assert IGNORE_TAG in cells[i]["metadata"].get("tags", []), "widget cells vary: tag them nbval-ignore-output"
        following = next(c for c in cells[i + 1 :] if c["outputs"])
        assert any("image/png" in o.get("data", {}) for o in following["outputs"]), "a widget needs a static figure after it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stale_widget_state(path: Path) -> None:
    """Widget state without a widget output is a leftover (nbclient keeps it when a run makes no widget):
    it would make the page load the widget manager and carry dead data. `make execute` drops it first."""
    notebook = json.loads(path.read_text())
    if any(WIDGET_VIEW in o.get("data", {}) for c in _code_cells(path) for o in c["outputs"]):
        return
    state = notebook["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    assert not state.get("state"), "stale widget state: drop metadata.widgets (make execute does) and re-execute"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_few_cells_are_exempt_from_output_checks(path: Path) -> None:
    cells = _code_cells(path)
    ignored = [c for c in cells if IGNORE_TAG in c["metadata"].get("tags", [])]
    assert len(ignored) <= max(3, len(cells) // 4), f"{len(ignored)} of {len(cells)} cells ignore their output"


def test_vendored_widget_javascript_is_configured_and_present() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    scripts = config["sphinx"]["config"]["nb_ipywidgets_js"]
    for script in scripts:
        assert not script.startswith("http"), f"{script} would need a CDN"
        assert (ROOT / "_widgets_static" / script).is_file(), f"{script} is not vendored"
    assert not (ROOT / "_static").exists(), "files in _static/ are injected into every page (widgets render twice)"
    mathjax = config["sphinx"]["config"]["mathjax_path"]
    assert not mathjax.startswith("http") and (ROOT / "_widgets_static" / mathjax).is_file(), "MathJax must be vendored"
    assert (ROOT / "_widgets_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_every_citation_resolves() -> None:
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.MULTILINE))
    sources = [p.read_text() for p in (ROOT / "book").rglob("*.md")] + [p.read_text() for p in NOTEBOOKS]
    cited = {key.strip() for text in sources for group in re.findall(r"\{cite[:a-z]*\}`([^`]+)`", text) for key in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"unknown citation keys: {sorted(cited - keys)}"


# ---------------------------------------------------------------------------------------------------
# The workbook: exercises, hints and gated solutions (sphinx-exercise), and the self-checks they call
# ---------------------------------------------------------------------------------------------------

EXERCISE = re.compile(r"^`{3,}\{exercise\}[^\n]*\n:label: (\S+)", re.MULTILINE)
SOLUTION_START = re.compile(r"^`{3,}\{solution-start\} (\S+)", re.MULTILINE)
SOLUTION = re.compile(r"^`{3,}\{solution\} (\S+)", re.MULTILINE)
SOLUTION_END = re.compile(r"^`{3,}\{solution-end\}", re.MULTILINE)
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([\w-]+)["']""")
COLAB_TITLE = '# @title Solution'


def workbook_problems(cells: list[dict], registered: dict[str, str], chapter: str) -> list[str]:
    """What is wrong with a chapter's exercises: an exercise without a solution, a solution-start without
    its solution-end (or nested), a solution code cell without Colab's form title, a check of an
    unknown exercise, or a self-checked exercise of this chapter that is never checked."""
    problems, labels, solved, open_solution = [], [], set(), None
    checked = set()
    for cell in cells:
        source = _source(cell)
        if cell["cell_type"] == "markdown":
            labels += EXERCISE.findall(source)
            solved |= set(SOLUTION.findall(source))
            for label in SOLUTION_START.findall(source):
                if open_solution is not None:
                    problems.append(f"solution of {open_solution} is not closed before the one of {label}")
                open_solution = label
                solved.add(label)
            if SOLUTION_END.search(source):
                if open_solution is None:
                    problems.append("a solution-end without a solution-start")
                open_solution = None
        elif open_solution is not None and source.strip() and not source.startswith(COLAB_TITLE):
            problems.append(f"a code cell of the solution of {open_solution} does not start with {COLAB_TITLE!r}")
        if cell["cell_type"] == "code":
            checked |= set(CHECK_CALL.findall(source))
    if open_solution is not None:
        problems.append(f"the solution of {open_solution} has no solution-end")
    problems += [f"exercise {label} has no solution" for label in labels if label not in solved]
    problems += [f"check({name!r}) names no self-checked exercise" for name in checked - set(registered)]
    if labels:  # a chapter with a workbook section checks all of its self-checked exercises
        mine = {name for name, where in registered.items() if where == chapter}
        problems += [f"self-checked exercise {name} is never checked" for name in sorted(mine - checked)]
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_gated_solution_and_a_known_check(path: Path) -> None:
    from mnv3lib.book.exercises import EXERCISES

    cells = json.loads(path.read_text())["cells"]
    registered = {name: exercise.chapter for name, exercise in EXERCISES.items()}
    assert not workbook_problems(cells, registered, path.stem)


def test_the_workbook_rules_can_fail() -> None:
    """A chapter with a broken workbook section is caught (so that the test above can fail)."""

    def markdown(text: str) -> dict:
        return {"cell_type": "markdown", "source": text}

    def code(text: str) -> dict:
        return {"cell_type": "code", "source": text, "outputs": []}

    good = [
        markdown("````{exercise}\n:label: ex-anatomy-1\n\nQuestion.\n````"),
        markdown("````{solution-start} ex-anatomy-1\n:class: dropdown\n````"),
        code('# @title Solution { display-mode: "form" }\ncheck("anatomy-1", {})'),
        markdown("````{solution-end}\n````"),
    ]
    registered = {"anatomy-1": "01_anatomy", "anatomy-2": "01_anatomy"}
    assert workbook_problems(good, {"anatomy-1": "01_anatomy"}, "01_anatomy") == []
    assert workbook_problems(good, registered, "01_anatomy") == ["self-checked exercise anatomy-2 is never checked"]
    untitled = good[:2] + [code('check("anatomy-1", {})')] + good[3:]
    assert "does not start with" in workbook_problems(untitled, {"anatomy-1": "01_anatomy"}, "01_anatomy")[0]
    assert "has no solution-end" in workbook_problems(good[:3], {"anatomy-1": "01_anatomy"}, "01_anatomy")[0]
    unknown = good[:2] + [code('# @title Solution\ncheck("anatomy-9", 1)')] + good[3:]
    assert "names no self-checked exercise" in " ".join(workbook_problems(unknown, {"anatomy-1": "01_anatomy"}, "01_anatomy"))
    assert workbook_problems(good[:1], {}, "01_anatomy") == ["exercise ex-anatomy-1 has no solution"]
