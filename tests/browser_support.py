"""Headless Chromium for the browser tests: Debian's ``chromium`` and ``chromium-driver`` driven by Selenium.

The browser may resolve no host but 127.0.0.1 (``--host-resolver-rules``), pages are served from a
loopback HTTP server, and every request the page makes is read back from the performance log, so a
test can prove that none left loopback. ``MNV3_REQUIRE_BROWSER=1`` (set by ``make test-browser`` and
CI) turns a missing browser from a skip into a failure.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}
# Console errors that are not ours, on every Jupyter Book 1 page: sphinx-thebe 0.3.1 declares THEBE_JS_URL
# twice, and pydata-sphinx-theme logs an error when a new browser profile has no theme mode stored yet.
THIRD_PARTY_NOISE = (
    "Identifier 'THEBE_JS_URL' has already been declared",
    "pydata-sphinx-theme.js?digest=",  # "Got invalid theme mode: . Resetting to auto."
    "favicon.ico",
)


def browser_or_skip() -> tuple[str, str]:
    """Paths of chromium and chromedriver, or a skip (a failure under ``MNV3_REQUIRE_BROWSER=1``)."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium:
        missing.append("chromium (apt-get install chromium)")
    if not driver:
        missing.append("chromedriver (apt-get install chromium-driver)")
    if missing:
        message = "browser tests need " + ", ".join(missing)
        if os.environ.get("MNV3_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return chromium, driver


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium_driver() -> Iterator[object]:
    """A headless Chromium (Selenium WebDriver) that can reach loopback only and records its requests and console."""
    chromium, driver_path = browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1600",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: object) -> list[str]:
    """Every URL the page asked for since the last call (from the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def outside_loopback(urls: list[str]) -> list[str]:
    """The URLs that would leave the machine."""
    outside = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or (parts.scheme in ("http", "https", "ws") and parts.hostname in LOOPBACK_HOSTS):
            continue
        if parts.scheme == "file":
            continue
        outside.append(url)
    return outside


def console_errors(driver: object) -> list[str]:
    """Console errors since the last call, without the known third-party noise."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not any(noise in entry["message"] for noise in THIRD_PARTY_NOISE)
    ]


def wait_until_ready(driver: object, selector: str = "[data-kind]", timeout: float = 30) -> list[object]:
    """Wait until every explorer on the page has drawn once; return their elements."""
    from selenium.webdriver.support.ui import WebDriverWait

    def all_ready(d: object) -> list[object] | bool:
        found = d.find_elements("css selector", selector)
        return found if found and all(e.get_attribute("data-ready-ms") for e in found) else False

    return WebDriverWait(driver, timeout).until(all_ready)


def canvas_digest(driver: object, root: object) -> str:
    """A digest of every visible canvas's pixels in ``root`` (changes when anything drawn changes)."""
    return driver.execute_script(
        """
        const parts = [];
        for (const canvas of arguments[0].querySelectorAll('canvas')) {
          if (canvas.closest('figure') && canvas.closest('figure').style.display === 'none') continue;
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let hash = 2166136261;
          for (let i = 0; i < data.length; i++) { hash ^= data[i]; hash = Math.imul(hash, 16777619) >>> 0; }
          parts.push(canvas.getAttribute('data-panel') + ':' + hash.toString(16));
        }
        return parts.join(',');
        """,
        root,
    )


def control(root: object, name: str) -> object:
    """The input whose control is named ``name`` in an explorer."""
    return root.find_element("css selector", f'[data-control="{name}"]')


def move_slider(driver: object, root: object, name: str, steps: int) -> None:
    """Move a range control by ``steps`` (arrow keys, as a reader would)."""
    from selenium.webdriver.common.keys import Keys

    slider = control(root, name)
    driver.execute_script("arguments[0].focus()", slider)
    slider.send_keys((Keys.ARROW_RIGHT if steps > 0 else Keys.ARROW_LEFT) * abs(steps))


def choose(root: object, name: str, index: int) -> None:
    from selenium.webdriver.support.ui import Select

    Select(control(root, name)).select_by_index(index)


def drawn_snapshot(driver: object, root: object) -> str:
    """What an explorer shows: its canvases' pixels and its text, less the controls' own labels and readouts."""
    text = driver.execute_script(
        "const copy = arguments[0].cloneNode(true); copy.querySelectorAll('label').forEach(l => l.remove()); return copy.textContent;",
        root,
    )
    return canvas_digest(driver, root) + "|" + text


def _set_value(driver: object, element: object, value: str) -> None:
    driver.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event(arguments[0].type === 'range' ? 'input' : 'change'));",
        element,
        value,
    )


def operate(driver: object, root: object, name: str) -> None:
    """Move one control as a reader would: a slider to its other end, a checkbox flipped, a menu to another entry."""
    from selenium.webdriver.common.keys import Keys

    element = control(root, name)
    kind = element.get_attribute("type")
    if kind == "range":
        at_max = float(element.get_attribute("value")) >= float(element.get_attribute("max"))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", element)
        element.send_keys(Keys.HOME if at_max else Keys.END)
    elif kind == "checkbox":
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
    else:
        count = len(element.find_elements("css selector", "option"))
        index = int(driver.execute_script("return arguments[0].selectedIndex", element))
        choose(root, name, (index + 1) % count)


def exercise_every_control(driver: object, root: object) -> dict[str, bool]:
    """Operate each enabled control in turn (then put it back); report whether the drawing changed.

    A toggle that changes nothing on the first image (a class absent from it, keypoints with no person
    kept) is tried on the next images too, as a reader would look for one where it matters.
    """
    names = [e.get_attribute("data-control") for e in root.find_elements("css selector", "[data-control]") if e.is_enabled()]
    changed = {}
    for name in names:
        element = control(root, name)
        original = element.get_attribute("value") if element.get_attribute("type") != "checkbox" else None
        images = [None]
        if name != "image" and "image" in names:
            images += [str(i) for i in range(1, int(control(root, "image").get_attribute("max")) + 1)]
        changed[name] = False
        for image in images:
            if image is not None:
                _set_value(driver, control(root, "image"), image)
            before = drawn_snapshot(driver, root)
            operate(driver, root, name)
            changed[name] = drawn_snapshot(driver, root) != before
            if element.get_attribute("type") == "checkbox":
                element.click()
            else:
                _set_value(driver, element, original)
            if changed[name]:
                break
        if "image" in names:
            _set_value(driver, control(root, "image"), "0")
    return changed


# What scrolls sideways on a built chapter page: code blocks, and outputs (a printed line too long for the
# column, a wide table). An element scrolls when its content is wider than its box and its overflow lets
# the reader scroll; an explorer (it draws to fit) and images (scaled to the column) do not count.
SIDEWAYS_SCRIPT = """
const scrolls = (el) => {
  const all = [el, ...el.querySelectorAll('*')];
  return all.some((e) => {
    const style = getComputedStyle(e);
    return ['auto', 'scroll'].includes(style.overflowX) && e.scrollWidth > e.clientWidth + 1;
  });
};
const code = [...document.querySelectorAll('div.cell_input')];
const outputs = [...document.querySelectorAll('div.cell_output > *')].filter(
  (o) => !o.querySelector('.mnv3-explorer') && o.textContent.trim() !== '' || o.querySelector('table'));
const label = (el) => (el.textContent || '').trim().split('\\n')[0].slice(0, 60);
return {
  code: code.length, code_scrolling: code.filter(scrolls).map(label),
  outputs: outputs.length, outputs_scrolling: outputs.filter(scrolls).map(label),
  column: document.querySelector('main') ? document.querySelector('main').clientWidth : null,
};
"""


def sideways_scrolling(driver: object, url: str, width: int = 1280, height: int = 800) -> dict:
    """Code blocks and outputs that scroll sideways on the page at ``url`` in a ``width`` × ``height`` window."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(width, height)
    driver.get(url)
    # Measure the page as the reader sees it: loaded, its cells in the DOM and its web fonts applied (a
    # fallback font has other widths). Without the wait a measurement could find no cells, and pass.
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && document.querySelectorAll('div.cell_input').length > 0"
        )
    )
    driver.execute_async_script("const done = arguments[arguments.length - 1]; document.fonts.ready.then(() => done());")
    found = driver.execute_script(SIDEWAYS_SCRIPT)
    if not found["code"]:
        raise AssertionError(f"no code cells found on {url}: the page did not load")
    return found
