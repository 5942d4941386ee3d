"""The book's networks in the reader's browser: which checkpoints, images and files the explorers use.

``make book`` runs, after ``jupyter-book build``::

    python -m mnv3lib.book.browser export _build/browser-models     # ~30 s on 2 CPU cores, offline
    python -m mnv3lib.book.browser install _build/html --models _build/browser-models --node-modules node_modules

``export`` writes :data:`BROWSER_FILES` from the committed checkpoints (Chapter 2's MobileNetV3-Small on
the shapes, in float32 and int8; the segmentation chapter's LR-ASPP) and checks each float file against
PyTorch on the book's images; ``install`` copies them, with ONNX Runtime Web from ``npm ci``, into the
built book's ``_static/mnv3-browser/``. The files are made at build time, not committed: they are
derived from the checkpoints (about 12 MB together, replaced whenever a checkpoint or the exporter
changes), and making them takes seconds.

Chapters 2, 3 and 6 show :func:`draw_a_shape`, :func:`float_and_int8_side_by_side` and
:func:`paint_a_scene`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.minicoco import MINICOCO_CLASSES, render_person_mask
from ..data.shapes import render_shape_mask
from ..viz.browser_explorers import (
    ASSETS_FOLDER,
    BrowserExplorer,
    install_models,
    install_runtime,
    quantized_drawing_explorer,
    scene_painting_explorer,
    shape_drawing_explorer,
)
from ..viz.browser_models import (
    BrowserModel,
    ExplainedMobileNetV3,
    Preprocessing,
    export_browser_classifier,
    export_browser_segmenter,
    quantize_browser_model,
    run_browser_model,
)
from .artifacts import load_book_classifier, load_book_segmenter
from .runs import BOOK_SEGMENTATION_SCENES, book_splits

__all__ = [
    "BROWSER_FILES",
    "START_SHAPES",
    "SCENE_COUNT",
    "shapes_preprocessing",
    "scenes_preprocessing",
    "start_images",
    "scene_images",
    "stamp_masks",
    "export_book_models",
    "install_book_assets",
    "draw_a_shape",
    "float_and_int8_side_by_side",
    "paint_a_scene",
]

BROWSER_FILES = {
    "classifier": "shapes_mobilenet_v3_small.onnx",
    "classifier_int8": "shapes_mobilenet_v3_small_int8.onnx",
    "segmenter": "minicoco_lraspp_mobilenet_v3_large.onnx",
}
# The pad's starting images: the first validation image of each of these classes.
START_SHAPES = ("star", "heart", "ring", "cross", "triangle")
SCENE_COUNT = 4  # the first validation scenes of the segmentation chapter
CHANNEL_IMAGES = 128  # validation images that choose the channel maps drawn
CALIBRATION_IMAGES = 256  # training images that calibrate the int8 file (eval transform)
FLOAT_TOLERANCE = 1e-4  # largest |ONNX Runtime - PyTorch| accepted on any output of a float file
STAMP_SIZE = 64


def shapes_preprocessing() -> Preprocessing:
    """Chapter 2's evaluation transform of the 64-px shapes: resize 64, centre crop 56, ImageNet normalisation."""
    _, config, _ = load_book_classifier()
    return Preprocessing("classification", config.val_resize_size, config.val_crop_size)


def scenes_preprocessing() -> Preprocessing:
    """The segmentation chapter's: 128-px scenes, scaled to [0, 1]."""
    size = BOOK_SEGMENTATION_SCENES["image_size"]
    return Preprocessing("segmentation", size, size)


def start_images(names: Sequence[str] = START_SHAPES) -> dict[str, torch.Tensor]:
    """``{class: the first validation image of that class}`` (uint8, 64 px), the pad's starting images."""
    _, val = book_splits("shapes", train_size=1, val_size=200)
    found = {}
    for image, label in zip(val.images, val.targets):
        name = val.classes[label]
        if name in names and name not in found:
            found[name] = image
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"no validation image of {missing} among the first {len(val)}: expected names from {val.classes}")
    return {name: found[name] for name in names}


def scene_images(count: int = SCENE_COUNT) -> dict[str, torch.Tensor]:
    """The first ``count`` validation scenes of the segmentation chapter (uint8, 128 px)."""
    _, val = book_splits("semantic_scenes", train_size=1, val_size=count)
    return {f"scene {i + 1}": val[i][0].as_subclass(torch.Tensor) for i in range(count)}


def stamp_masks(size: int = STAMP_SIZE) -> dict[str, torch.Tensor]:
    """Soft masks of mini-COCO's classes, drawn by the scenes' own renderers, that the reader can add."""
    masks = {}
    for name in MINICOCO_CLASSES:
        if name == "person":  # a stick figure standing, arms out
            joints = torch.tensor([[0.5, 0.14], [0.5, 0.27], [0.28, 0.47], [0.72, 0.47], [0.5, 0.6], [0.39, 0.75], [0.61, 0.75], [0.34, 0.94], [0.66, 0.94]])
            masks[name] = render_person_mask(size, joints * size, limb_width=size / 12, head_radius=size / 10)
        else:
            masks[name] = render_shape_mask(name, size, (size / 2, size / 2), radius=size * 0.45, angle=0.0)
    return masks


def _preprocessed(images: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    return torch.cat([preprocessing(image) for image in images])


def export_book_models(directory: str | Path, *, log: Callable[[str], None] = print) -> dict[str, BrowserModel]:
    """Export :data:`BROWSER_FILES` into ``directory`` and check them: each float file's outputs equal
    PyTorch's within :data:`FLOAT_TOLERANCE` on the book's images; the int8 file's top-1 agreement with
    the float model is logged."""
    directory = Path(directory)
    classifier, config, classes = load_book_classifier()
    shapes = shapes_preprocessing()
    train, val = book_splits("shapes", train_size=CALIBRATION_IMAGES, val_size=CHANNEL_IMAGES)
    examples, calibration = _preprocessed(val.images, shapes), _preprocessed(train.images, shapes)
    files = {"classifier": export_browser_classifier(classifier, directory / BROWSER_FILES["classifier"], classes=classes,
                                                     preprocessing=shapes, example_images=examples)}  # fmt: skip
    files["classifier_int8"] = quantize_browser_model(files["classifier"], directory / BROWSER_FILES["classifier_int8"], calibration)
    explained = ExplainedMobileNetV3(classifier, [m["channels"] for m in files["classifier"].manifest["outputs"]["maps"]]).eval()
    largest, agree, checked = 0.0, 0, examples[:16]
    for image in checked:
        with torch.no_grad():
            reference = dict(zip(files["classifier"].output_names, explained(image[None])))
        ours = run_browser_model(files["classifier"], image[None])
        largest = max(largest, *(float(np.abs(ours[name] - value.numpy()).max()) for name, value in reference.items()))
        agree += int(run_browser_model(files["classifier_int8"], image[None])["logits"].argmax() == reference["logits"].argmax())
    _check_close(largest, BROWSER_FILES["classifier"])
    log(f"{BROWSER_FILES['classifier']}: {files['classifier'].manifest['bytes'] / 1e6:.2f} MB, |ONNX Runtime - PyTorch| <= {largest:.2e} on {len(checked)} images")
    log(f"{BROWSER_FILES['classifier_int8']}: {files['classifier_int8'].manifest['bytes'] / 1e6:.2f} MB, top-1 agrees with float32 on {agree} of {len(checked)}")

    segmenter, _ = load_book_segmenter("lraspp")
    scenes = scenes_preprocessing()
    files["segmenter"] = export_browser_segmenter(segmenter, directory / BROWSER_FILES["segmenter"], classes=["background", *MINICOCO_CLASSES],
                                                  preprocessing=scenes)  # fmt: skip
    largest = 0.0
    for image in scene_images().values():
        batch = scenes(image)
        with torch.no_grad():
            reference = segmenter(batch)["out"].numpy()
        largest = max(largest, float(np.abs(run_browser_model(files["segmenter"], batch)["logits"] - reference).max()))
    _check_close(largest, BROWSER_FILES["segmenter"])
    log(f"{BROWSER_FILES['segmenter']}: {files['segmenter'].manifest['bytes'] / 1e6:.2f} MB, |ONNX Runtime - PyTorch| <= {largest:.2e} on {SCENE_COUNT} scenes")
    return files


def _check_close(largest: float, name: str) -> None:
    if not math.isfinite(largest) or largest > FLOAT_TOLERANCE:
        raise RuntimeError(f"{name}: ONNX Runtime's outputs differ from PyTorch's by {largest:.2e}, more than {FLOAT_TOLERANCE:.0e}")


def install_book_assets(html: str | Path, models: str | Path, node_modules: str | Path = "node_modules") -> Path:
    """Copy ONNX Runtime Web and the exported :data:`BROWSER_FILES` into the built book's
    ``_static/mnv3-browser/`` (``ort/`` and ``models/``); returns that folder."""
    html, models = Path(html), Path(models)
    if not (html / "index.html").is_file():
        raise FileNotFoundError(f"no built book in {html} (index.html is missing): run `jupyter-book build .` first")
    assets = html / "_static" / ASSETS_FOLDER
    install_runtime(node_modules, assets / "ort")
    install_models([BrowserModel.load(models / name) for name in BROWSER_FILES.values()], assets / "models")
    return assets


def _classifier_arguments(assets_url: str | None) -> tuple[torch.nn.Module, list[str], dict]:
    classifier, _, classes = load_book_classifier()
    return classifier, classes, {"starts": start_images(), "preprocessing": shapes_preprocessing(), "assets_url": assets_url}


def draw_a_shape(assets_url: str | None = None) -> BrowserExplorer:
    """Chapter 2's explorer: draw a shape, watch the book's MobileNetV3-Small (see
    :func:`~mnv3lib.viz.browser_explorers.shape_drawing_explorer`)."""
    classifier, classes, options = _classifier_arguments(assets_url)
    return shape_drawing_explorer(classifier, classes, model_file=BROWSER_FILES["classifier"], **options)


def float_and_int8_side_by_side(assets_url: str | None = None) -> BrowserExplorer:
    """Chapter 3's explorer: the float32 and int8 files on the same drawing (see
    :func:`~mnv3lib.viz.browser_explorers.quantized_drawing_explorer`)."""
    classifier, classes, options = _classifier_arguments(assets_url)
    return quantized_drawing_explorer(
        classifier, classes, float_file=BROWSER_FILES["classifier"], int8_file=BROWSER_FILES["classifier_int8"], **options
    )


def paint_a_scene(assets_url: str | None = None) -> BrowserExplorer:
    """The segmentation chapter's explorer: paint over a mini-COCO scene, watch LR-ASPP's mask (see
    :func:`~mnv3lib.viz.browser_explorers.scene_painting_explorer`)."""
    return scene_painting_explorer(
        ["background", *MINICOCO_CLASSES], model_file=BROWSER_FILES["segmenter"], scenes=scene_images(), stamps=stamp_masks(),
        preprocessing=scenes_preprocessing(), assets_url=assets_url,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnv3lib.book.browser", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export the book's browser models into a folder, and check them")
    export.add_argument("directory", type=Path)
    install = commands.add_parser("install", help="copy ONNX Runtime Web and the exported models into the built book")
    install.add_argument("html", type=Path, help="the built book (_build/html)")
    install.add_argument("--models", type=Path, required=True, help="the folder `export` wrote")
    install.add_argument("--node-modules", type=Path, default=Path("node_modules"), help="where `npm ci` installed onnxruntime-web")
    args = parser.parse_args(argv)
    if args.command == "export":
        export_book_models(args.directory)
    else:
        assets = install_book_assets(args.html, args.models, args.node_modules)
        print(f"installed ONNX Runtime Web and {len(BROWSER_FILES)} models into {assets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
