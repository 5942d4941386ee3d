"""Make a bare `pytest --nbval` at the repository root verify the chapters exactly as they were executed.

`pytest` collects the unit tests (`tests/`) and, with `--nbval` (strict) or `--nbval-lax`, every chapter
in `notebooks/`; pyproject.toml's addopts choose the kernel (`--nbval-current-env`: the interpreter
running pytest) and the sanitiser. This file supplies what addopts cannot:

* the environment the chapters were executed with (`make execute` exports the same values). nbval starts
  each chapter's kernel as a child of this process, so setting `os.environ` here, at import time, reaches
  every kernel. `PYTHONHASHSEED` fixes set and dict-of-str iteration order; `MPLBACKEND` makes figures
  inline, as in Jupyter; `MNV3LIB_OFFLINE` makes every machine the offline reader's (the unit tests
  unset it: tests/conftest.py).
* the sanitiser path, made absolute so that pytest works from any directory of the repository.
* on another torch than the pinned one (the Colab job), the output of a cell tagged
  `torch-version-sensitive` is not compared: it still runs, with its asserts, but a result that training
  or int8 arithmetic makes differ in the second decimal under another torch (tests/test_book.py
  lists each such cell and why) does not fail the job. On the pinned torch every cell is compared.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Keep in step with the Makefile's exports (a unit test checks that they agree).
CHAPTER_ENVIRONMENT = {
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    # The stored outputs are the offline reader's, on any machine: TorchVision's weights are neither read
    # from the cache nor downloaded (mnv3lib.models.weights.offline). tests/test_real_photos.py runs the
    # chapters' online sections separately, with a cache of random weights.
    "MNV3LIB_OFFLINE": "1",
}
os.environ.update(CHAPTER_ENVIRONMENT)


def pytest_configure(config: pytest.Config) -> None:
    sanitiser = getattr(config.option, "nbval_sanitize_with", None)
    if sanitiser and not Path(sanitiser).is_file() and (ROOT / sanitiser).is_file():
        config.option.nbval_sanitize_with = str(ROOT / sanitiser)


VERSION_SENSITIVE_TAG = "torch-version-sensitive"


def pinned_torch() -> str:
    """The torch version the chapters were executed with: constraints.txt's pin."""
    match = re.search(r"^torch==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError("constraints.txt pins no torch version (a line 'torch==X.Y.Z')")
    return match.group(1)


def on_pinned_torch() -> bool:
    import torch

    return torch.__version__.split("+")[0] == pinned_torch()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_pinned_torch():
        return
    for item in items:
        cell = getattr(item, "cell", None)
        options = getattr(item, "options", None)
        if cell is not None and options is not None and VERSION_SENSITIVE_TAG in cell.metadata.get("tags", []):
            options["check"] = False


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which library and which stack are under test (the Colab job tests an installed copy)."""
    import mnv3lib
    import torch

    location = Path(mnv3lib.__file__).resolve().parent
    where = "this checkout" if location == ROOT / "mnv3lib" else "installed"
    stack = "the pinned torch" if on_pinned_torch() else (
        f"not the pinned {pinned_torch()}: outputs of cells tagged {VERSION_SENSITIVE_TAG} are not compared"
    )
    return [f"mnv3lib: {location} ({where}); torch {torch.__version__} ({stack})"]
