"""The book's networks in headless Chromium (offline, loopback only), as the reader runs them: the page's
numbers are ONNX Runtime's in Python on the same pixels.

Two sets of pages, the same checks:

* ``made``: pages made here from the explorer functions, with ONNX Runtime Web copied from ``npm ci``'s
  ``node_modules`` and the book's models exported by ``mnv3lib.book.browser`` (``MNV3_BROWSER_MODELS``
  names a folder of them already exported, as ``make test-browser`` does; else they are exported here);
* ``book``: the built book's chapter pages (``MNV3_BOOK_HTML``, set by ``make test-browser`` after
  ``make book``; skipped without it, and a missing page or explorer fails).

Checked: the first paint loads neither the runtime nor a model; the first interaction loads them; on
every starting image or scene the page's input is the book's transform of its pixels bit for bit, and
every output (logits, channel maps, SE gates) is within 1e-4 of ONNX Runtime's in Python, with the same
top-1 and, for segmentation, the same mask; drawing with pointer events changes the prediction and
the maps, and the new numbers agree too; nothing leaves loopback and the console stays clean; outside
the book, with no files, the explorer names what it needs.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from browser_support import browser_or_skip, chromium_driver, console_errors, outside_loopback, requested_urls, serve
from mnv3lib.viz.browser_explorers import ASSETS_FOLDER, RUNTIME_FILES, install_models, install_runtime
from mnv3lib.viz.browser_models import BrowserModel, run_browser_model

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-4
KINDS = ("draw", "compare", "scene")
BOOK_PAGES = {"draw": "notebooks/02_training.html", "compare": "notebooks/03_quantization.html", "scene": "notebooks/06_segmentation.html"}
LOADED_ON_INTERACTION = (".wasm", ".mjs", ".onnx", "models/")

# What the page ran last, as base64 of its typed arrays (exact, and compact for the 128-px logits).
READ_LAST_RUN = """
const m = arguments[0].mnv3;
const b64 = a => { const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)); return btoa(s); };
return {pixels: b64(m.pixels), input: b64(m.input), files: m.files, mask: m.mask ? b64(m.mask) : null,
        outputs: m.outputs.map(o => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, {data: b64(v.data), dims: Array.from(v.dims)}])))};
"""


@dataclass
class Site:
    """Pages served on loopback: which page holds each kind of explorer, and the model files they load."""

    base: str
    pages: dict[str, str]
    models: Path


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    with chromium_driver() as chromium:
        yield chromium


def _node_modules_or_skip() -> Path:
    node_modules = ROOT / "node_modules"
    if not (node_modules / "onnxruntime-web" / "package.json").is_file():
        message = "the in-browser explorers' tests need ONNX Runtime Web: run `npm ci` at the repository root"
        if os.environ.get("MNV3_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return node_modules


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from mnv3lib.book import browser

    browser_or_skip()
    node_modules = _node_modules_or_skip()
    folder = tmp_path_factory.mktemp("browser-models")
    exported = os.environ.get("MNV3_BROWSER_MODELS")
    models = Path(exported) if exported else folder / "exported"
    if not exported:
        browser.export_book_models(models)
    install_runtime(node_modules, folder / "ort")
    install_models([BrowserModel.load(models / name) for name in browser.BROWSER_FILES.values()], folder / "models")
    pages = {"draw": browser.draw_a_shape(assets_url="./"), "compare": browser.float_and_int8_side_by_side(assets_url="./"),
             "scene": browser.paint_a_scene(assets_url="./"), "missing": browser.draw_a_shape()}  # fmt: skip
    for name, explorer in pages.items():
        (folder / f"{name}.html").write_text(explorer.to_html(name))
    with serve(folder) as base:
        yield Site(base, {name: f"{name}.html" for name in pages}, folder / "models")


@pytest.fixture(scope="module")
def book() -> Iterator[Site]:
    html = os.environ.get("MNV3_BOOK_HTML")
    if not html:
        pytest.skip("set MNV3_BOOK_HTML to the built book (make test-browser does, after make book)")
    html = (ROOT / html).resolve()
    missing = [page for page in BOOK_PAGES.values() if not (html / page).is_file()]
    assets = html / "_static" / ASSETS_FOLDER
    missing += [str(assets / "ort" / name) for name in RUNTIME_FILES if not (assets / "ort" / name).is_file()]
    if missing:
        pytest.fail(f"the built book is missing {missing}: run `make book`", pytrace=False)
    with serve(html) as base:
        yield Site(base, dict(BOOK_PAGES), assets / "models")


@pytest.fixture(params=["made", "book"])
def site(request: pytest.FixtureRequest) -> Site:
    return request.getfixturevalue(request.param)


def _open(driver: object, site: Site, kind: str) -> object:
    """Load the page of ``kind`` (forgetting earlier requests and console); return its first-painted explorer."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    requested_urls(driver), console_errors(driver)
    driver.get(f"{site.base}/{site.pages[kind]}")

    def painted(d: object) -> object:
        found = [e for e in d.find_elements("css selector", f'[data-browser-model="{kind if kind != "missing" else "draw"}"]')]
        return found[0] if found and (found[0].get_attribute("data-ready-ms") or found[0].get_attribute("data-state") == "missing") else False

    try:
        return WebDriverWait(driver, 30).until(painted)
    except Exception:
        pytest.fail(f"{site.pages[kind]}: no {kind} explorer was drawn (is its cell in the chapter?)", pytrace=False)


def _wait_for_run(driver: object, root: object, runs_before: int, timeout: float = 120) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    def done(_: object) -> bool:
        state = root.get_attribute("data-state")
        if state == "error":
            pytest.fail("the explorer failed: " + root.find_element("css selector", "[data-panel=status]").text, pytrace=False)
        return state == "ready" and int(root.get_attribute("data-runs")) > runs_before and root.get_attribute("data-busy") == "0"

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(done)


def _runs(root: object) -> int:
    return int(root.get_attribute("data-runs"))


def _decode(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def _check_last_run(driver: object, root: object, site: Site) -> dict[str, dict[str, np.ndarray]]:
    """Compare the page's last run with ONNX Runtime in Python on the page's own pixels; return the
    page's outputs by file, and print the largest differences."""
    last = driver.execute_script(READ_LAST_RUN, root)
    outputs = {}
    for file, page_outputs in zip(last["files"], last["outputs"]):
        model = BrowserModel.load(site.models / file)
        size = model.preprocessing.resize_size
        pixels = _decode(last["pixels"], np.uint8).reshape(size, size, 4)
        assert (pixels[..., 3] == 255).all(), "the pad is opaque"
        image = torch.from_numpy(pixels[..., :3].copy()).permute(2, 0, 1).contiguous()
        expected_input = model.preprocessing(image)
        assert np.array_equal(_decode(last["input"], np.float32), expected_input.numpy().ravel()), "the page's preprocessing differs from the book's transform"
        reference = run_browser_model(model, expected_input)
        assert sorted(page_outputs) == sorted(reference), f"{file}: the page has outputs {sorted(page_outputs)}"
        ours = {name: _decode(value["data"], np.float32).reshape(value["dims"]) for name, value in page_outputs.items()}
        differences = {name: float(np.abs(ours[name] - reference[name]).max()) for name in reference}
        worst = max(differences, key=differences.get)
        print(f"{file}: largest |browser - Python| {differences[worst]:.2e} ({worst}), latency {root.get_attribute('data-latency-ms')} ms")
        assert differences[worst] <= TOLERANCE, f"{file}: {worst} differs by {differences[worst]:.2e}"
        logits, expected = ours["logits"], reference["logits"]
        if model.manifest["kind"] == "segmenter":
            mask = _decode(last["mask"], np.uint8).reshape(size, size)
            assert np.array_equal(mask, expected.argmax(1)[0]), f"{file}: {int((mask != expected.argmax(1)[0]).sum())} mask pixels differ"
        else:
            assert int(logits.argmax()) == int(expected.argmax()), f"{file}: top-1 differs"
        outputs[file] = ours
    return outputs


def _check_hygiene(driver: object) -> None:
    urls = requested_urls(driver)
    assert not outside_loopback(urls), f"requests left loopback: {outside_loopback(urls)}"
    errors = console_errors(driver)
    assert not errors, f"console errors: {errors}"


def _choices(root: object, kind: str) -> list[object]:
    prefix = "scene " if kind == "scene" else "start "
    return root.find_elements("css selector", f'button[data-control^="{prefix}"]')


@pytest.mark.parametrize("kind", KINDS)
def test_first_paint_loads_neither_the_runtime_nor_a_model(driver: object, site: Site, kind: str) -> None:
    root = _open(driver, site, kind)
    assert root.get_attribute("data-state") == "idle"
    early = [u for u in requested_urls(driver) if any(part in u for part in LOADED_ON_INTERACTION)]
    assert not early, f"loaded before any interaction: {early}"
    print(f"{site.pages[kind]}: {kind} explorer painted {root.get_attribute('data-ready-ms')} ms after navigation")
    _check_hygiene(driver)


@pytest.mark.parametrize("kind", KINDS)
def test_the_page_computes_what_onnxruntime_computes(driver: object, site: Site, kind: str) -> None:
    root = _open(driver, site, kind)
    choices = _choices(root, kind)
    assert len(choices) >= 4
    for choice in choices:
        runs = _runs(root)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", choice)
        choice.click()  # the first click also loads the runtime and the models
        _wait_for_run(driver, root, runs)
        _check_last_run(driver, root, site)
    status = root.find_element("css selector", "[data-panel=status]").text
    assert "one thread" in status and "ready" in status
    _check_hygiene(driver)


def _stroke(driver: object, canvas: object, points: list[tuple[float, float]]) -> None:
    """Drag the pointer through ``points`` (fractions of the canvas), as a reader draws."""
    from selenium.webdriver.common.action_chains import ActionChains

    width, height = canvas.size["width"], canvas.size["height"]
    offsets = [(round((x - 0.5) * width), round((y - 0.5) * height)) for x, y in points]
    actions = ActionChains(driver).move_to_element_with_offset(canvas, *offsets[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(offsets, offsets[1:]):
        actions = actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()


@pytest.mark.parametrize("kind", KINDS)
def test_drawing_changes_the_prediction_and_the_maps(driver: object, site: Site, kind: str) -> None:
    root = _open(driver, site, kind)
    choice = _choices(root, kind)[0]
    choice.click()
    _wait_for_run(driver, root, 0)
    before = _check_last_run(driver, root, site)
    canvas = root.find_element("css selector", "canvas[data-panel=pad]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    if kind == "scene":  # a large star in the middle, then a painted bar across
        driver.execute_script("""const root = arguments[0], set = (name, value) => { const c = root.querySelector(`[data-control="${name}"]`);
            c.value = value; c.dispatchEvent(new Event(c.tagName === 'SELECT' ? 'change' : 'input')); };
            set('shape', '3'); set('shape size', '60');""", root)
        runs = _runs(root)
        _stroke(driver, canvas, [(0.5, 0.5)])
        _wait_for_run(driver, root, runs)
        driver.execute_script("const c = arguments[0].querySelector('[data-control=\"tool\"]'); c.value = 'brush'; c.dispatchEvent(new Event('change'));", root)
    else:  # a thick vertical bar: a cross or a square, no longer the starting shape
        driver.execute_script("const b = arguments[0].querySelector('[data-control=\"brush\"]'); b.value = '12'; b.dispatchEvent(new Event('input'));", root)
    runs = _runs(root)
    _stroke(driver, canvas, [(0.2, 0.15), (0.35, 0.4), (0.5, 0.6), (0.65, 0.8), (0.8, 0.85)])
    _wait_for_run(driver, root, runs)
    after = _check_last_run(driver, root, site)
    for file in before:
        changed = {name for name in before[file] if not np.array_equal(before[file][name], after[file][name])}
        assert "logits" in changed, f"{file}: the logits did not change"
        if kind != "scene":
            maps = {name for name in before[file] if name.startswith("map_")}
            assert maps and maps <= changed, f"{file}: maps that did not change: {sorted(maps - changed)}"
    if kind == "scene":
        assert not np.array_equal(before[next(iter(before))]["logits"].argmax(1), after[next(iter(after))]["logits"].argmax(1)), "the mask did not change"
    else:
        top = root.find_element("css selector", '[data-panel^="top5"]').text
        assert root.get_attribute("data-top1").split(",")[0] in top
    _check_hygiene(driver)


def test_the_se_block_menu_shows_that_blocks_gates(driver: object, site: Site) -> None:
    from selenium.webdriver.support.ui import Select

    root = _open(driver, site, "draw")
    _choices(root, "draw")[0].click()
    _wait_for_run(driver, root, 0)
    gates = root.find_element("css selector", "canvas[data-panel=gates]")
    menu = Select(root.find_element("css selector", '[data-control="SE block"]'))
    seen = set()
    for option in range(len(menu.options)):
        menu.select_by_index(option)
        seen.add(gates.get_attribute("data-mean"))
    assert len(seen) == len(menu.options) == 9  # MobileNetV3-Small: SE in 9 of its 11 blocks
    strip = root.find_element("css selector", "[data-panel=strip]").text
    assert strip.count("HS") == 10 and strip.count("RE") == 3 and strip.count("SE") == 9


def test_outside_the_book_without_files_it_names_what_it_needs(driver: object, made: Site) -> None:
    root = _open(driver, made, "missing")
    status = root.find_element("css selector", "[data-panel=status]").text
    assert root.get_attribute("data-state") == "missing"
    for needed in (*RUNTIME_FILES, "shapes_mobilenet_v3_small.onnx", "make book", "assets_url", "CDN_RUNTIME_URL"):
        assert needed in status, f"the message does not name {needed}: {status}"
    root.find_element("css selector", "canvas[data-panel=pad]").click()
    assert root.get_attribute("data-state") == "missing"
    assert [u for u in requested_urls(driver) if any(part in u for part in LOADED_ON_INTERACTION)] == []
    _check_hygiene(driver)
