"""Explorers that run the book's networks in the reader's browser, with ONNX Runtime Web.

The explorers of :mod:`mnv3lib.viz.widgets` draw results that Python computed before the page was
built. These let the reader feed the network: draw a shape and watch MobileNetV3-Small's layers, its
squeeze-and-excite gates and its top-5 answer react (:func:`shape_drawing_explorer`, Chapter 2); the
float32 and int8 files side by side on the same drawing (:func:`quantized_drawing_explorer`, Chapter 3);
paint over a mini-COCO scene and watch LR-ASPP's mask follow (:func:`scene_painting_explorer`,
Chapter 6). No kernel and no server: the page runs the files of :mod:`mnv3lib.viz.browser_models`.

They use the carrier of :class:`~mnv3lib.viz.widgets.Explorer` (one self-contained HTML output: a
``<div>`` and a classic script), with their own front-end, ``static/browser_model.js``. What they
need besides the output, the built book serves from ``_static/mnv3-browser/`` (:data:`ASSETS_FOLDER`;
``make book`` puts it there, :func:`install_runtime` and :func:`install_models`):

* ``ort/``: ONNX Runtime Web's WebAssembly build, :data:`RUNTIME_FILES` of the npm package
  ``onnxruntime-web`` at :data:`ONNXRUNTIME_WEB_VERSION` (``package.json``);
* ``models/``: the exported ``.onnx`` files and their ``.json`` manifests.

The first paint does not wait for them: the page draws the pad, the starting image and the layer strip,
and loads the runtime and the model at the reader's first interaction, with a visible loading state.
It runs on one thread (``numThreads = 1``): GitHub Pages sends no cross-origin-isolation headers, so
the browser gives the page no ``SharedArrayBuffer`` for worker threads.

Outside the built book (Jupyter, Colab) those files are absent: the explorer says what it needs instead
of failing silently. There, and only there, ``runtime_url=CDN_RUNTIME_URL`` loads the runtime from the
package's CDN; the models then come from ``assets_url`` (for instance a published copy of the book's
``_static/mnv3-browser/``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..checks import check_positive
from ..models.mobilenetv3 import MobileNetV3
from .browser_models import BrowserModel, Preprocessing, layer_summary
from .drawing import PALETTE, png_data_uri
from .widgets import PAYLOAD_BUDGET_BYTES, Explorer

__all__ = [
    "ONNXRUNTIME_WEB_VERSION",
    "RUNTIME_FILES",
    "ASSETS_FOLDER",
    "CDN_RUNTIME_URL",
    "BrowserExplorer",
    "browser_front_end_source",
    "install_runtime",
    "install_models",
    "shape_drawing_explorer",
    "quantized_drawing_explorer",
    "scene_painting_explorer",
]

# The npm package the page runs (pinned in package.json and package-lock.json; a test checks they agree).
ONNXRUNTIME_WEB_VERSION = "1.31.1"
# What the plain WebAssembly execution provider needs: the wasm-only ES module, the Emscripten module it
# imports, and the SIMD build of the runtime (the only one the package ships since 1.19; with one thread
# it runs without SharedArrayBuffer).
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# Under the built book's _static/: ort/ (the runtime) and models/ (the exported files).
ASSETS_FOLDER = "mnv3-browser"
# The package's CDN, for Jupyter and Colab only (the built book never loads anything from a CDN).
CDN_RUNTIME_URL = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ONNXRUNTIME_WEB_VERSION}/dist/"


@cache
def browser_front_end_source() -> str:
    """The in-browser explorers' JavaScript (one classic script defining ``MNV3BrowserModels``)."""
    return resources.files(__package__).joinpath("static", "browser_model.js").read_text(encoding="utf-8")


class BrowserExplorer(Explorer):
    """An in-browser explorer: :class:`~mnv3lib.viz.widgets.Explorer`'s carrier with the front-end of
    ``static/browser_model.js``. Its ``<div>`` carries ``data-browser-model`` (the kind) and, once drawn,
    ``data-ready-ms``; ``data-state`` says where the runtime is (``idle``, ``loading``, ``ready``,
    ``missing`` or ``error``), ``data-runs`` counts the inferences and ``data-busy`` is ``1`` while one runs."""

    def _repr_html_(self) -> str:
        payload = self.to_json()
        element = "mnv3-browser-" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]
        return (
            f'<div class="mnv3-browser-model" id="{element}" style="font-family:sans-serif; font-size:14px">'
            "<i>This explorer runs the book's network in your browser with JavaScript. In Jupyter, run the cell"
            " (or trust the notebook) to see it; the figure below shows it.</i></div>\n"
            f"<script>\n{browser_front_end_source()}\n"
            f"(function (script) {{ var el = script && script.previousElementSibling;\n"
            f'  if (!el || el.id !== "{element}") el = document.getElementById("{element}");\n'
            f"  MNV3BrowserModels.mount(el, {payload});\n}})(document.currentScript);\n</script>"
        )


# ---------------------------------------------------------------------------------------------------
# The files: the runtime from npm, the models from browser_models
# ---------------------------------------------------------------------------------------------------


def install_runtime(node_modules: str | Path, destination: str | Path) -> list[Path]:
    """Copy :data:`RUNTIME_FILES` from an ``npm ci`` install of ``onnxruntime-web`` into ``destination``.

    Raises:
        FileNotFoundError: the package is not installed there (run ``npm ci`` at the repository root).
        ValueError: it is another version than :data:`ONNXRUNTIME_WEB_VERSION`.
    """
    package = Path(node_modules) / "onnxruntime-web"
    manifest = package / "package.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"onnxruntime-web is not installed in {node_modules}: run `npm ci` at the repository root (needs npm)")
    version = json.loads(manifest.read_text())["version"]
    if version != ONNXRUNTIME_WEB_VERSION:
        raise ValueError(f"expected onnxruntime-web {ONNXRUNTIME_WEB_VERSION} in {package}, found {version}: run `npm ci`")
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in RUNTIME_FILES:
        source = package / "dist" / name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing from onnxruntime-web {version}")
        copied.append(Path(shutil.copy2(source, destination / name)))
    return copied


def install_models(models: Sequence[BrowserModel], destination: str | Path) -> list[Path]:
    """Copy exported models (each ``.onnx`` with its ``.json`` manifest) into ``destination``."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for model in models:
        if not isinstance(model, BrowserModel):
            raise TypeError(f"expected BrowserModel files to install, got {type(model).__name__}")
        for source in (model.path, model.path.with_suffix(".json")):
            copied.append(Path(shutil.copy2(source, destination / source.name)))
    return copied


# ---------------------------------------------------------------------------------------------------
# The explorers
# ---------------------------------------------------------------------------------------------------


def _within_budget(explorer: BrowserExplorer) -> BrowserExplorer:
    if explorer.payload_bytes > PAYLOAD_BUDGET_BYTES:
        raise ValueError(
            f"the {explorer.kind} explorer's data weighs {explorer.payload_bytes / 1e6:.1f} MB, over the "
            f"{PAYLOAD_BUDGET_BYTES / 1e6:.0f} MB an explorer may add to a page: pass fewer or smaller images"
        )
    return explorer


def _check_file(name: object, argument: str) -> str:
    if not isinstance(name, str) or not name.endswith(".onnx") or "/" in name or "\\" in name:
        raise ValueError(f"expected {argument} to be the name of an exported .onnx file (no folder), got {name!r}")
    return name


def _check_url(url: object, argument: str) -> str | None:
    if url is not None and (not isinstance(url, str) or not url.endswith("/")):
        raise ValueError(f"expected {argument} to be None or a folder URL ending in '/', got {url!r}")
    return url


def _check_images(images: object, argument: str, size: int) -> dict[str, torch.Tensor]:
    if not isinstance(images, Mapping) or not images:
        raise TypeError(f"expected {argument} to be a non-empty mapping {{name: (3, {size}, {size}) uint8 image}}, got {type(images).__name__}")
    for name, image in images.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"expected the names in {argument} to be non-empty strings, got {name!r}")
        if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8 or tuple(image.shape) != (3, size, size):
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"expected {argument}[{name!r}] to be a (3, {size}, {size}) uint8 image (the pad's size), got {shape}")
    return dict(images)


def _runtime(runtime_url: str | None) -> dict[str, Any]:
    return {"version": ONNXRUNTIME_WEB_VERSION, "files": list(RUNTIME_FILES), "folder": ASSETS_FOLDER, "url": _check_url(runtime_url, "runtime_url")}


def _drawing_payload(
    kind: str,
    model: MobileNetV3,
    classes: Sequence[str],
    files: Sequence[tuple[str, str]],
    starts: Mapping[str, torch.Tensor],
    preprocessing: Preprocessing,
    assets_url: str | None,
    runtime_url: str | None,
    scale: int,
) -> dict[str, Any]:
    if not isinstance(model, MobileNetV3):
        raise TypeError(f"expected the float MobileNetV3 classifier the files were exported from, got {type(model).__name__}")
    if len(classes) != model.classifier[-1].out_features:
        raise ValueError(f"expected {model.classifier[-1].out_features} class names (the model's outputs), got {len(classes)}")
    if preprocessing.task != "classification":
        raise ValueError(f"expected classification preprocessing, got task {preprocessing.task!r}")
    check_positive(scale, "scale", integer=True)
    starts = _check_images(starts, "starts", preprocessing.resize_size)
    return {
        "kind": kind,
        "models": [{"label": label, "file": file} for label, file in files],
        "classes": list(classes),
        "layers": layer_summary(model),
        "preprocessing": preprocessing.to_dict(),
        "starts": [{"name": name, "image": png_data_uri(image)} for name, image in starts.items()],
        "assets_url": _check_url(assets_url, "assets_url"),
        "runtime": _runtime(runtime_url),
        "scale": scale,
    }


def shape_drawing_explorer(
    model: MobileNetV3,
    classes: Sequence[str],
    *,
    model_file: str,
    starts: Mapping[str, torch.Tensor],
    preprocessing: Preprocessing,
    assets_url: str | None = None,
    runtime_url: str | None = None,
    scale: int = 5,
) -> BrowserExplorer:
    """Draw a shape and watch the classifier think: a drawing pad (brush, colour, clear, starting images),
    the top-5 classes after every stroke, a strip of every layer with a few of its channel maps (each
    layer marked hard-swish or ReLU, with SE or not), a chosen block's SE gate values as bars, and the
    latency of each inference.

    The pad is ``preprocessing.resize_size`` pixels wide (the size the book's evaluation transform
    resizes to, so its resize is the identity), shown ``scale`` times larger; the page takes the centre
    crop and normalises as the transform does (framed on the pad), then runs ``model_file``.

    Args:
        model: The float classifier exported to ``model_file`` (its layers and classes are shown before
            the file loads; the page checks them against the file's manifest).
        classes: Class names, in the order of the logits.
        model_file: Name of the file from :func:`~mnv3lib.viz.browser_models.export_browser_classifier`.
        starts: Starting images ``{name: (3, resize, resize) uint8}``; the first one is on the pad.
        preprocessing: The file's preprocessing (its manifest's).
        assets_url: Folder URL holding ``models/`` and ``ort/`` (default: the built book's
            ``_static/mnv3-browser/``, found from the page).
        runtime_url: Folder URL of ONNX Runtime Web's files, outside the built book only (e.g.
            :data:`CDN_RUNTIME_URL` in Colab); the book always uses its own copy.
        scale: Display magnification of the pad.
    """
    files = [("float32", _check_file(model_file, "model_file"))]
    payload = _drawing_payload("draw", model, classes, files, starts, preprocessing, assets_url, runtime_url, scale)
    return _within_budget(BrowserExplorer(payload))


def quantized_drawing_explorer(
    model: MobileNetV3,
    classes: Sequence[str],
    *,
    float_file: str,
    int8_file: str,
    starts: Mapping[str, torch.Tensor],
    preprocessing: Preprocessing,
    assets_url: str | None = None,
    runtime_url: str | None = None,
    scale: int = 5,
) -> BrowserExplorer:
    """The float32 and int8 files side by side on the same drawing: each one's top-5 and latency,
    whether their top-1 classes agree, the largest logit difference, and the agreement over every
    drawing so far. Arguments as :func:`shape_drawing_explorer`'s, with the two files' names
    (``int8_file`` from :func:`~mnv3lib.viz.browser_models.quantize_browser_model`)."""
    files = [("float32", _check_file(float_file, "float_file")), ("int8", _check_file(int8_file, "int8_file"))]
    payload = _drawing_payload("compare", model, classes, files, starts, preprocessing, assets_url, runtime_url, scale)
    return _within_budget(BrowserExplorer(payload))


def scene_painting_explorer(
    classes: Sequence[str],
    *,
    model_file: str,
    scenes: Mapping[str, torch.Tensor],
    stamps: Mapping[str, torch.Tensor],
    preprocessing: Preprocessing,
    assets_url: str | None = None,
    runtime_url: str | None = None,
    scale: int = 2,
) -> BrowserExplorer:
    """Paint over a scene and watch the segmentation follow: the reader picks a scene, stamps a shape on
    it, paints with a brush or erases back to the scene, and the model's mask (the arg-max of its logits)
    is recomputed after every change, drawn over the scene with each class's share of the pixels.

    Args:
        classes: Class names, index 0 = the background (the file's manifest must agree).
        model_file: Name of the file from :func:`~mnv3lib.viz.browser_models.export_browser_segmenter`.
        scenes: ``{name: (3, size, size) uint8 scene}`` at the model's input size.
        stamps: ``{name: (size, size) mask in [0, 1]}``: the shapes the reader can add (coloured by the page).
        preprocessing: The file's preprocessing (``task="segmentation"``).
        assets_url, runtime_url, scale: As for :func:`shape_drawing_explorer`.
    """
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not 2 <= len(classes) <= len(PALETTE):
        raise ValueError(f"expected 2 to {len(PALETTE)} class names (index 0 = the background), got {classes!r}")
    if preprocessing.task != "segmentation":
        raise ValueError(f"expected segmentation preprocessing, got task {preprocessing.task!r}")
    check_positive(scale, "scale", integer=True)
    scenes = _check_images(scenes, "scenes", preprocessing.resize_size)
    if not isinstance(stamps, Mapping) or not stamps:
        raise TypeError(f"expected stamps to be a non-empty mapping {{name: (size, size) mask in [0, 1]}}, got {type(stamps).__name__}")
    for name, mask in stamps.items():
        if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or mask.shape[0] != mask.shape[1] or not mask.is_floating_point():
            raise ValueError(f"expected stamps[{name!r}] to be a square float mask (size, size) in [0, 1], got {getattr(mask, 'shape', type(mask).__name__)}")
    payload = {
        "kind": "scene",
        "models": [{"label": "float32", "file": _check_file(model_file, "model_file")}],
        "classes": list(classes),
        "palette": list(PALETTE),
        "preprocessing": preprocessing.to_dict(),
        "scenes": [{"name": name, "image": png_data_uri(image)} for name, image in scenes.items()],
        "stamps": [{"name": name, "mask": png_data_uri(mask.clamp(0, 1).expand(3, -1, -1))} for name, mask in stamps.items()],
        "assets_url": _check_url(assets_url, "assets_url"),
        "runtime": _runtime(runtime_url),
        "scale": scale,
    }
    return _within_budget(BrowserExplorer(payload))
