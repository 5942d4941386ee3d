"""The built chapter pages fit a laptop screen (``make test-browser``, after ``make book``): in a 1280 × 800
window no code block scrolls sideways, and at most one output in ten does (a table too wide, a printed
line too long). Prints each page's figures.

``MNV3_BOOK_HTML`` names the built HTML folder, as for tests/test_book_pages.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser_support import chromium_driver, serve, sideways_scrolling

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.with_suffix(".html").name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_SCROLLING_OUTPUTS = 0.10


@pytest.fixture(scope="module")
def pages():
    folder = os.environ.get("MNV3_BOOK_HTML")
    if not folder:
        pytest.skip("set MNV3_BOOK_HTML to the built book (make test-browser does, after make book)")
    html = (ROOT / folder).resolve()
    missing = [page for page in CHAPTERS if not (html / "notebooks" / page).is_file()]
    if missing:
        pytest.fail(f"the built book is missing {missing} under {html}: run `make book` first", pytrace=False)
    with serve(html) as base, chromium_driver() as driver:
        yield base, driver


@pytest.mark.parametrize("page", CHAPTERS)
def test_the_page_fits_a_1280_px_window(pages: tuple[str, object], page: str) -> None:
    base, driver = pages
    found = sideways_scrolling(driver, f"{base}/notebooks/{page}")
    share = len(found["outputs_scrolling"]) / max(found["outputs"], 1)
    print(
        f"{page}: {len(found['code_scrolling'])} of {found['code']} code blocks and "
        f"{len(found['outputs_scrolling'])} of {found['outputs']} outputs ({share:.0%}) scroll sideways"
    )
    assert not found["code_scrolling"], f"{page}: code blocks scroll sideways: {found['code_scrolling']}"
    assert share <= MAX_SCROLLING_OUTPUTS, f"{page}: {share:.0%} of the outputs scroll sideways: {found['outputs_scrolling']}"
