"""Issue 16's design choice, measured: the same explorer front-end (mnv3lib/viz/static/explorers.js)
and the same data, carried two ways into a static page, loaded offline in headless Chromium.

* ``html``: what mnv3lib ships, a self-contained HTML output (``Explorer._repr_html_``);
* ``anywidget``: an ``anywidget.AnyWidget`` whose ``_esm`` is that front-end, embedded the way
  myst-nb embeds widgets in a page (widget state + view in the page, require.js and the html-manager's
  ``embed-amd.js``, which this script fetches from the npm registry into its temporary folder, as the
  book once vendored them), with anywidget's own AMD front-end beside them
  (``anywidget/nbextension/index.js``).

For each it prints the page's bytes, the bytes of everything it loads, the requests (and any that
left loopback), console errors, and the time from navigation to the first drawing (median of
``--loads``). A benchmark, not a test; it needs ``pip install anywidget selenium``, Debian's chromium +
chromium-driver, and ``npm`` with the npm registry.

    python benchmarks/explorer_carriers.py [--loads 5] [--scenes 12]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import chromium_driver, console_errors, outside_loopback, requested_urls, serve, wait_until_ready  # noqa: E402

from mnv3lib.viz.widgets import detection_explorer, front_end_source  # noqa: E402


def book_sized_detections(scenes: int) -> tuple[list, list, list[str]]:
    """Chapter 4's shape of data: 256-px scenes, 50 candidates each with 9 keypoints."""
    generator = torch.Generator().manual_seed(0)
    images, predictions = [], []
    for _ in range(scenes):
        image = torch.zeros(3, 256, 256)
        image[:, 40:120, 60:200] = torch.rand(3, 1, 1, generator=generator)  # a flat shape, like the book's scenes
        xy = torch.rand(50, 2, generator=generator) * 200
        boxes = torch.cat([xy, xy + 10 + torch.rand(50, 2, generator=generator) * 50], 1)
        keypoints = torch.cat([torch.rand(50, 9, 2, generator=generator) * 256, torch.ones(50, 9, 1)], 2)
        labels = torch.randint(1, 7, (50,), generator=generator)
        predictions.append({"boxes": boxes, "scores": torch.rand(50, generator=generator), "labels": labels, "keypoints": keypoints})
        images.append(image)
    return images, predictions, ["circle", "square", "triangle", "star", "heart", "person"]


# Make requirejs resolve the bundled @jupyter-widgets AMD modules to the folder of this script, so
# that the font-awesome fonts embedded by webpack load from there.
REQUIRE_PATHS = """(function () {
  var base = document.currentScript.src.replace(/\\?.*$/, '').replace(/\\/[^/]*$/, '');
  window.requirejs.config({ paths: { '@jupyter-widgets/html-manager/dist': base, '@jupyter-widgets': base } });
})();
"""


def fetch_widget_manager(folder: Path) -> None:
    """require.js and the html-manager's embed-amd.js (with its fonts) from the npm registry, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(["npm", "pack", "--silent", "@jupyter-widgets/html-manager@1.0.15", "requirejs@2.3.8"], cwd=work, check=True, stdout=subprocess.DEVNULL)
        for archive in ("jupyter-widgets-html-manager-1.0.15", "requirejs-2.3.8"):
            (work / archive).mkdir()
            subprocess.run(["tar", "xzf", str(work / f"{archive}.tgz"), "-C", str(work / archive)], check=True)
        shutil.copy(work / "requirejs-2.3.8" / "package" / "require.js", folder)
        dist = work / "jupyter-widgets-html-manager-1.0.15" / "package" / "dist"
        for path in [dist / "embed-amd.js", *dist.glob("*.woff"), *dist.glob("*.woff2")]:
            shutil.copy(path, folder)
    (folder / "require-paths.js").write_text(REQUIRE_PATHS)


def anywidget_page(explorer_data: dict, folder: Path) -> str:
    import anywidget
    import traitlets
    from ipywidgets.embed import embed_data

    class AnyExplorer(anywidget.AnyWidget):
        _esm = front_end_source() + "\nexport default { render({ model, el }) { MNV3Explorers.mount(el, model.get('data')); } };\n"
        data = traitlets.Dict().tag(sync=True)

    widget = AnyExplorer(data=explorer_data)
    embedded = embed_data(views=[widget], drop_defaults=False)  # the full state, as nbclient stores it
    vendored = folder / "ipywidgets"
    fetch_widget_manager(vendored)
    shutil.copy(Path(anywidget.__file__).parent / "nbextension" / "index.js", vendored / "anywidget.js")
    state = json.dumps(embedded["manager_state"]).replace("</", "<\\/")
    view = json.dumps(embedded["view_specs"][0])
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">\n'
        '<script src="ipywidgets/require.js"></script>\n<script src="ipywidgets/require-paths.js"></script>\n'
        '<script>requirejs.config({ paths: { anywidget: location.href.replace(/\\/[^/]*$/, "") + "/ipywidgets/anywidget" } });</script>\n'
        '<script src="ipywidgets/embed-amd.js" data-jupyter-widgets-cdn="ipywidgets-cdn-disabled/"></script>\n'
        f'<script type="application/vnd.jupyter.widget-state+json">{state}</script>\n'
        f'</head><body><script type="application/vnd.jupyter.widget-view+json">{view}</script></body></html>\n'
    )


def measure(driver: object, url: str, loads: int) -> dict:
    times, errors, outside, requests = [], [], [], []
    for _ in range(loads):
        driver.get("about:blank")
        requested_urls(driver), console_errors(driver)  # drop the previous load's logs
        driver.get(url)
        root = wait_until_ready(driver)[0]
        times.append(int(root.get_attribute("data-ready-ms")))
        urls = requested_urls(driver)
        requests.append(len(urls))
        outside += outside_loopback(urls)
        errors += console_errors(driver)
    loaded = driver.execute_script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".reduce((sum, e) => sum + (e.decodedBodySize || 0), 0)"
    )
    return {"ready ms (median)": statistics.median(times), "ready ms (all)": times, "bytes loaded": loaded,
            "requests": max(requests), "outside loopback": sorted(set(outside)), "console errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--scenes", type=int, default=12)
    args = parser.parse_args()
    images, predictions, classes = book_sized_detections(args.scenes)
    explorer = detection_explorer(images, predictions, classes, keypoint_label=6, skeleton=[(1, 2), (2, 3)])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "html.html").write_text(explorer.to_html())
        (folder / "anywidget.html").write_text(anywidget_page(explorer.data, folder))
        with serve(folder) as base, chromium_driver() as driver:
            for name in ("html", "anywidget"):
                page = (folder / f"{name}.html").stat().st_size
                result = measure(driver, f"{base}/{name}.html", args.loads)
                print(f"{name:10s} page {page / 1e6:.2f} MB; " + "; ".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
