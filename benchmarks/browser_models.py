"""Issue 31's weight and speed: what each in-browser explorer adds to its page, and how long one
inference takes in headless Chromium (ONNX Runtime Web, WebAssembly, one thread).

For each explorer (Chapter 2's "draw a shape", Chapter 3's float32 and int8 side by side, the
segmentation chapter's "paint a scene") it prints

* the bytes its output adds to the page's HTML (front-end and data), raw and gzip-compressed;
* the bytes it loads at the first interaction (ONNX Runtime Web's files, the models and their
  manifests), raw and gzip-compressed, as a static host would compress them;
* the time from navigation to its first paint, and from the first interaction to ready;
* the median and the 10th-90th percentiles of ``session.run``'s time over ``--runs`` inferences on
  the starting images (after ``--warmup`` runs), per model.

A benchmark, not a test: run it on a quiet machine. It needs selenium and Debian's chromium +
chromium-driver, and ``npm ci`` (ONNX Runtime Web in node_modules) unless ``--html`` names a built book.

    python benchmarks/browser_models.py [--html _build/html] [--models _build/browser-models] [--runs 40]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import chromium_driver, outside_loopback, requested_urls, serve  # noqa: E402

from mnv3lib.book import browser  # noqa: E402
from mnv3lib.viz.browser_explorers import ASSETS_FOLDER, RUNTIME_FILES, install_models, install_runtime  # noqa: E402
from mnv3lib.viz.browser_models import BrowserModel  # noqa: E402

EXPLORERS = {
    "draw": ("notebooks/02_training.html", browser.draw_a_shape, [browser.BROWSER_FILES["classifier"]]),
    "compare": ("notebooks/03_quantization.html", browser.float_and_int8_side_by_side,
                [browser.BROWSER_FILES["classifier"], browser.BROWSER_FILES["classifier_int8"]]),  # fmt: skip
    "scene": ("notebooks/06_segmentation.html", browser.paint_a_scene, [browser.BROWSER_FILES["segmenter"]]),
}


def sizes(data: bytes) -> tuple[int, int]:
    return len(data), len(gzip.compress(data, compresslevel=6))


def megabytes(pair: tuple[int, int]) -> str:
    return f"{pair[0] / 1e6:.3f} MB raw, {pair[1] / 1e6:.3f} MB gzip"


def make_site(folder: Path, models: Path | None) -> tuple[Path, dict[str, str]]:
    """Pages made from the explorer functions, with the runtime from node_modules and the book's models."""
    if models is None:
        models = folder / "exported"
        browser.export_book_models(models)
    assets = folder / "_static" / ASSETS_FOLDER
    install_runtime(ROOT / "node_modules", assets / "ort")
    install_models([BrowserModel.load(models / name) for name in browser.BROWSER_FILES.values()], assets / "models")
    pages = {}
    for kind, (_, make, _) in EXPLORERS.items():
        (folder / f"{kind}.html").write_text(make(assets_url=f"_static/{ASSETS_FOLDER}/").to_html(kind))
        pages[kind] = f"{kind}.html"
    return folder, pages


def wait_for_run(driver: object, root: object, runs: int, timeout: float = 120) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.01).until(
        lambda _: root.get_attribute("data-state") in ("ready", "error") and int(root.get_attribute("data-runs")) > runs
        and root.get_attribute("data-busy") == "0"
    )  # fmt: skip
    if root.get_attribute("data-state") == "error":
        raise RuntimeError(root.text)


def measure(driver: object, base: str, page: str, kind: str, runs: int, warmup: int) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    requested_urls(driver)
    driver.get(f"{base}/{page}")
    root = WebDriverWait(driver, 30).until(
        lambda d: [e for e in d.find_elements("css selector", f'[data-browser-model="{kind}"]') if e.get_attribute("data-ready-ms")]
    )[0]
    painted = int(root.get_attribute("data-ready-ms"))
    buttons = root.find_elements("css selector", 'button[data-control^="scene "]' if kind == "scene" else 'button[data-control^="start "]')
    started = time.perf_counter()
    buttons[0].click()
    wait_for_run(driver, root, 0)
    ready = time.perf_counter() - started
    latencies: list[list[float]] = []
    for index in range(warmup + runs):
        done = int(root.get_attribute("data-runs"))
        buttons[index % len(buttons)].click()
        wait_for_run(driver, root, done)
        if index >= warmup:
            latencies.append([float(ms) for ms in root.get_attribute("data-latency-ms").split(",")])
    urls = requested_urls(driver)
    if outside_loopback(urls):
        raise RuntimeError(f"requests left loopback: {outside_loopback(urls)}")
    return {"painted_ms": painted, "ready_s": ready, "latencies": list(zip(*latencies))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", type=Path, default=None, help="a built book with the explorer cells (default: pages made here)")
    parser.add_argument("--models", type=Path, default=None, help="exported models (default: export them here)")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if args.html:
            folder, pages = args.html.resolve(), {kind: page for kind, (page, _, _) in EXPLORERS.items()}
        else:
            folder, pages = make_site(Path(work), args.models)
        assets = folder / "_static" / ASSETS_FOLDER
        runtime = [sizes((assets / "ort" / name).read_bytes()) for name in RUNTIME_FILES]
        runtime_total = (sum(r for r, _ in runtime), sum(g for _, g in runtime))
        print(f"ONNX Runtime Web ({', '.join(RUNTIME_FILES)}): {megabytes(runtime_total)}, loaded once per browser cache")
        with serve(folder) as base, chromium_driver() as driver:
            for kind, (_, make, files) in EXPLORERS.items():
                output = sizes(make()._repr_html_().encode("utf-8"))
                loaded = [sizes((assets / "models" / name).read_bytes()) for name in files]
                loaded += [sizes((assets / "models" / name).with_suffix(".json").read_bytes()) for name in files]
                models_total = (sum(r for r, _ in loaded), sum(g for _, g in loaded))
                both = (runtime_total[0] + models_total[0], runtime_total[1] + models_total[1])
                result = measure(driver, base, pages[kind], kind, args.runs, args.warmup)
                print(f"\n{kind} ({pages[kind]})")
                print(f"  in the page's HTML: {megabytes(output)}")
                print(f"  at the first interaction: models {megabytes(models_total)}; with the runtime {megabytes(both)}")
                print(f"  first paint {result['painted_ms']} ms after navigation; ready {result['ready_s']:.2f} s after the first click")
                for name, values in zip(files, result["latencies"]):
                    deciles = statistics.quantiles(values, n=10)
                    print(f"  {name}: median {statistics.median(values):.2f} ms per inference (p10 {deciles[0]:.2f}, p90 {deciles[-1]:.2f}; {len(values)} runs)")


if __name__ == "__main__":
    main()
