"""The built book's chapter pages with an explorer (``make test-browser``, after ``make book``), in
headless Chromium with every host but 127.0.0.1 unresolvable: each explorer draws, every control
changes what is drawn, no request leaves loopback, the console has no error but known third-party
noise, and each page is at most 8 MB. Prints each explorer's time to interactive (not asserted).

``MNV3_BOOK_HTML`` names the built HTML folder (``make test-browser`` sets it to ``_build/html``);
without it these tests are skipped, and with it a missing page fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser_support import chromium_driver, console_errors, exercise_every_control, outside_loopback, requested_urls, serve, wait_until_ready

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# Each chapter page and the explorers it must hold (the workbook's three: rmsprop, int8grid, defaultboxes).
CHAPTER_PAGES = {
    "notebooks/01_anatomy.html": {"architecture"},
    "notebooks/02_training.html": {"rmsprop"},
    "notebooks/03_quantization.html": {"calibration", "int8grid"},
    "notebooks/04_detection.html": {"detection"},
    "notebooks/05_ssdlite.html": {"detection", "defaultboxes"},
    "notebooks/06_segmentation.html": {"segmentation"},
}
PAGE_BUDGET_BYTES = 8_000_000


@pytest.fixture(scope="module")
def book() -> Path:
    folder = os.environ.get("MNV3_BOOK_HTML")
    if not folder:
        pytest.skip("set MNV3_BOOK_HTML to the built book (make test-browser does, after make book)")
    html = (ROOT / folder).resolve()
    missing = [page for page in CHAPTER_PAGES if not (html / page).is_file()]
    if missing:
        pytest.fail(f"the built book is missing {missing} under {html}: run `make book` first", pytrace=False)
    return html


@pytest.fixture(scope="module")
def browser(book: Path):
    with serve(book) as base, chromium_driver() as driver:
        yield base, driver


@pytest.mark.parametrize("page", sorted(CHAPTER_PAGES))
def test_chapter_page_is_within_budget(book: Path, page: str) -> None:
    size = (book / page).stat().st_size
    print(f"{page}: {size / 1e6:.2f} MB")
    assert size <= PAGE_BUDGET_BYTES, f"{page} weighs {size / 1e6:.1f} MB, over the 8 MB budget"


@pytest.mark.parametrize("page", sorted(CHAPTER_PAGES))
def test_every_control_of_the_chapters_explorer_redraws_offline(browser: tuple[str, object], page: str) -> None:
    base, driver = browser
    driver.get("about:blank")
    requested_urls(driver), console_errors(driver)  # forget the previous page
    driver.get(f"{base}/{page}")
    explorers = wait_until_ready(driver)
    kinds = [e.get_attribute("data-kind") for e in explorers]
    assert CHAPTER_PAGES[page] <= set(kinds), f"{page}: expected the explorers {sorted(CHAPTER_PAGES[page])}, found {kinds}"
    for root in explorers:
        print(f"{page}: {root.get_attribute('data-kind')} explorer interactive {root.get_attribute('data-ready-ms')} ms after navigation")
        changed = exercise_every_control(driver, root)
        assert changed and all(changed.values()), f"{page}: controls that changed nothing: {[k for k, v in changed.items() if not v]}"
    urls = requested_urls(driver)
    assert not outside_loopback(urls), f"{page}: requests left loopback: {outside_loopback(urls)}"
    errors = console_errors(driver)
    assert not errors, f"{page}: console errors: {errors}"
