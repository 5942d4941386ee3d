"""Truth by construction: the chapters' prose holds no measured number typed by hand.

A measured number in a chapter's markdown is pasted by the book build from the cell that computes it
(``{glue:text}`name```, recorded with :func:`mnv3lib.viz.display.glue`), so a re-execution cannot leave
the text behind. The rule (CONTRIBUTING.md), applied to every chapter's markdown outside code spans,
math, roles and links:

* a number that looks measured (a decimal fraction, a thousands separator, or a number followed by
  ``%`` or ``×``) must be a published figure: one of the articles' numbers in
  :mod:`mnv3lib.book.published`, or a value of TorchVision's weight metadata;
* versions (``torch 2.9.1``, ``PyTorch 2.10``) are not measurements;
* definitional numbers (224 px, 16 channels, an expansion of ``$6\\times$``) are integers, or go in code
  spans or math.
"""

from __future__ import annotations

import json
import re
from ast import literal_eval
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from mnv3lib.viz.display import GLUE_PREFIX

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MEASURED = re.compile(r"(?<![\w.\-/#])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+(?=\s?(?:%|×(?!\d))))(?![\w.]\d)")
VERSION_OWNERS = r"(?:torch|PyTorch|TorchVision|torchvision|ExecuTorch|executorch|torchao|onnx|onnxscript|ONNX Runtime|onnxruntime|Python|ipywidgets|NumPy|numpy|Jupyter Book|jupyter-book|Colab's torch|version|v)"
NOT_PROSE = [
    re.compile(r"```.*?```", re.S),  # fenced blocks (code, directives)
    re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S),  # math
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # roles: {glue:text}`…`, {cite}`…`, {doc}`…`
    re.compile(r"`[^`]*`"),  # code spans
    re.compile(r"\]\([^)]*\)|https?://\S+"),  # link targets, URLs
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"\b\d+\.\d+\.\d+\b"),  # three-part versions
    re.compile(VERSION_OWNERS + r"\s+\d+\.\d+(?:\.\d+)?"),  # named versions
]


def _normal(number: str) -> str | None:
    try:
        return str(Decimal(number.replace(",", "")).normalize())
    except InvalidOperation:
        return None


def _numbers_in(value: object) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_numbers_in(v) for v in value.values()), *(_numbers_in(k) for k in value)) if value else set()
    if isinstance(value, (list, tuple, set)):
        return set().union(*(_numbers_in(v) for v in value)) if value else set()
    if isinstance(value, bool):
        return set()
    if isinstance(value, (int, float)):
        return {_normal(repr(value))}
    if isinstance(value, str):
        return {n for n in map(_normal, re.findall(r"\d[\d,]*(?:\.\d+)?", value)) if n}
    return set()


def published_numbers() -> set[str]:
    """Every number of the articles (mnv3lib.book.published) and of TorchVision's weight metadata."""
    from torchvision.models import get_model_weights, list_models

    from mnv3lib.book import published

    numbers = _numbers_in((ROOT / "mnv3lib" / "book" / "published.py").read_text())
    for name in list_models():
        if any(key in name for key in ("mobilenet_v3", "resnet50", "resnet18", "mobilenet_v2", "keypointrcnn")):
            for weights in get_model_weights(name):
                numbers |= _numbers_in(weights.meta)
    numbers |= _numbers_in({k: getattr(published, k) for k in published.__all__ if k.isupper()})
    return numbers


def typed_numbers(markdown: str, allowed: set[str]) -> list[str]:
    prose = markdown
    for pattern in NOT_PROSE:
        prose = pattern.sub(" ", prose)
    return [n for n in MEASURED.findall(prose) if _normal(n) not in allowed]


@pytest.fixture(scope="module")
def allowed() -> set[str]:
    return published_numbers()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_measured_number_is_typed_into_the_prose(path: Path, allowed: set[str]) -> None:
    cells = json.loads(path.read_text())["cells"]
    typed = [(i, n) for i, c in enumerate(cells) if c["cell_type"] == "markdown" for n in typed_numbers("".join(c["source"]), allowed)]
    assert not typed, f"{len(typed)} measured numbers typed by hand (cell, number): {typed}; glue them from the cell that computes them"


def test_the_rule_catches_typed_numbers_and_spares_the_rest(allowed: set[str]) -> None:
    text = (
        "SSDlite reached 0.709 against 0.712 with 57% of the parameters and 1,286,604 weights, "
        "{glue:text}`ssd_ap` glued, `0.03` in code, $\\sqrt{10^{-3}} \\approx 0.0316$ in math, torch 2.9.1, "
        "PyTorch 2.10, the article's 74.042 and 19,386,354, an expansion of 6 channels."
    )
    assert typed_numbers(text, allowed) == ["0.709", "0.712", "57", "1,286,604"]


# A timing ratio that two pages print: (page, glue name) pairs that must hold the same number. Both come
# from the book's one timing record (mnv3lib.book.zoo.load_latency_record): timed again in each page's own
# process, the same ratio moved from run to run by up to 35 % on the book's 2-core machine.
SHARED_RATIOS = {
    "ResNet-50 Faster R-CNN over the high-resolution one": [("04_detection", "r50_over_high"), ("80_model_zoo", "zoo_r50_over_high")],
    "ResNet-50 Faster R-CNN over the 320 one": [("04_detection", "r50_over_320"), ("80_model_zoo", "zoo_r50_over_320")],
    "high-resolution Faster R-CNN over the 320 one": [("04_detection", "high_over_320"), ("80_model_zoo", "high_over_low")],
    "FCN ResNet-50 over LR-ASPP": [("06_segmentation", "fcn_r50_over_lraspp"), ("80_model_zoo", "zoo_r50_over_lraspp")],
    "FCN ResNet-50 over DeepLabV3": [("06_segmentation", "fcn_r50_over_deeplab"), ("80_model_zoo", "zoo_r50_over_deeplab")],
    "FCN ResNet-50 over FCN MobileNetV3": [("06_segmentation", "fcn_r50_over_fcn"), ("80_model_zoo", "zoo_r50_over_fcn")],
}


def glued_values(path: Path) -> dict[str, str]:
    """The text each glue name records in an executed notebook (what the book build pastes)."""
    values = {}
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                values[record["name"]] = literal_eval(output["data"][GLUE_PREFIX + "text/plain"])
    return values


@pytest.mark.parametrize("ratio", SHARED_RATIOS)
def test_a_timing_ratio_is_the_same_number_on_every_page_that_prints_it(ratio: str) -> None:
    glued = {(page, name): glued_values(ROOT / "notebooks" / f"{page}.ipynb").get(name) for page, name in SHARED_RATIOS[ratio]}
    assert None not in glued.values(), f"{ratio}: not glued on {[key for key, value in glued.items() if value is None]}"
    assert len(set(glued.values())) == 1, f"{ratio} differs between pages: {glued}; print it from the book's timing record on each"


# A timing ratio that one page measures and other pages quote by cross-document glue: (page, glue name), and
# each quoting page with the glue name under which it used to print its own measurement of the ratio.
QUOTED_RATIOS = {
    "eager int8 Large over eager float Large": (("03_quantization", "eager_ratio"), {"01_anatomy": "int8_vs_large", "07_deployment": "eager_int8"}),
}


@pytest.mark.parametrize("ratio", QUOTED_RATIOS)
def test_a_ratio_measured_once_is_quoted_elsewhere_not_measured_again(ratio: str) -> None:
    (page, name), quoting = QUOTED_RATIOS[ratio]
    assert name in glued_values(ROOT / "notebooks" / f"{page}.ipynb"), f"{page} no longer glues {name}"
    for other, own_name in quoting.items():
        path = ROOT / "notebooks" / f"{other}.ipynb"
        markdown = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
        assert f"{page}.ipynb::{name}" in markdown, f"{other} does not quote {page}'s {name}"
        assert own_name not in glued_values(path), f"{other} glues its own {own_name} for {ratio}"
