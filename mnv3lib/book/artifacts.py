"""The book's saved results and small checkpoints (``mnv3lib/book/artifacts/``), and their loaders.

``python -m mnv3lib.book classification`` (``detection``, ``segmentation``) writes them: :mod:`mnv3lib.book.runs`.
The checkpoints hold float16 weights with their config and class names; the loaders return float32
models in eval mode.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..data.minicoco import PERSON_KEYPOINTS
from ..engine.checkpoint import as_float16, as_float32, load_checkpoint, save_checkpoint
from ..engine.classification import ClassificationConfig, build_model
from ..engine.detection import DetectionConfig, build_detector
from ..engine.segmentation import SegmentationConfig, build_segmenter
from ..models import quantization

__all__ = [
    "ARTIFACTS",
    "DETECTOR_FILES",
    "SEGMENTER_FILES",
    "load_classification_results",
    "load_detection_results",
    "load_segmentation_results",
    "load_latency_results",
    "load_book_classifier",
    "load_book_quantizable_classifier",
    "load_book_detector",
    "load_book_segmenter",
    "save_half",
    "write_results",
]

ARTIFACTS = Path(__file__).parent / "artifacts"
CLASSIFICATION_RESULTS = "classification_results.json"
DETECTION_RESULTS = "detection_results.json"
SEGMENTATION_RESULTS = "segmentation_results.json"
LATENCY_RESULTS = "latency_results.json"
CLASSIFIER_FILE = "shapes_mobilenet_v3_small.pt"
DETECTOR_FILES = {
    "main": "minicoco_keypointrcnn_mobilenet_v3_large_fpn.pt", "low_res": "minicoco_keypointrcnn_mobilenet_v3_large_fpn_128.pt",
    "ssdlite": "minicoco_ssdlite320_mobilenet_v3_large.pt", "fasterrcnn_320": "minicoco_fasterrcnn_mobilenet_v3_large_320_fpn.pt",
}  # fmt: skip
# Only the LR-ASPP weights ship with the book (float16, ~6 MB each); DeepLabV3 and FCN are reported
# from the results file, which the command writes after training them.
SEGMENTER_FILES = {"lraspp": "minicoco_lraspp_mobilenet_v3_large.pt", "lraspp_undilated": "minicoco_lraspp_mobilenet_v3_large_undilated.pt"}


def _load_results(name: str, path: Path | None, topic: str) -> dict[str, Any]:
    path = path or ARTIFACTS / name
    if not path.is_file():
        raise FileNotFoundError(f"no saved results at {path}: run `python -m mnv3lib.book {topic}` first")
    return json.loads(path.read_text())


def load_classification_results(path: Path | None = None) -> dict[str, Any]:
    """The saved results of :func:`mnv3lib.book.runs.run_classification`."""
    return _load_results(CLASSIFICATION_RESULTS, path, "classification")


def load_detection_results(path: Path | None = None) -> dict[str, Any]:
    """The saved results of :func:`mnv3lib.book.runs.run_detection`."""
    return _load_results(DETECTION_RESULTS, path, "detection")


def load_segmentation_results(path: Path | None = None) -> dict[str, Any]:
    """The saved results of :func:`mnv3lib.book.runs.run_segmentation`."""
    return _load_results(SEGMENTATION_RESULTS, path, "segmentation")


def load_latency_results(path: Path | None = None) -> dict[str, Any]:
    """The saved timing record of :func:`mnv3lib.book.zoo.record_latency`, as written (the zoo checks it)."""
    return _load_results(LATENCY_RESULTS, path, "latency")


def _load_saved_model(path: Path, config_type: type, build: Callable[[Any, list[str]], torch.nn.Module]) -> tuple[torch.nn.Module, Any, list[str]]:
    """Load a book checkpoint (float16 weights, its config and class names) into ``build(config, classes)``,
    in float32 and eval mode; return the model, its config and the class names."""
    saved = load_checkpoint(path)
    config = config_type.from_dict(saved["config"])
    model = build(config, saved["classes"])
    model.load_state_dict(as_float32(saved["model"]))
    return model.eval(), config, saved["classes"]


def _book_file(files: dict[str, str], name: str, kind: str) -> Path:
    """The shipped file of the book's model ``name`` of ``files``."""
    if name not in files:
        raise ValueError(f"unknown book {kind} {name!r}: expected one of {', '.join(map(repr, files))}")
    return ARTIFACTS / files[name]


def load_book_classifier(path: Path | None = None) -> tuple[torch.nn.Module, ClassificationConfig, list[str]]:
    """The book's trained MobileNetV3-Small (float32, eval mode), its config and class names."""
    return _load_saved_model(path or ARTIFACTS / CLASSIFIER_FILE, ClassificationConfig, lambda config, classes: build_model(config, len(classes)))


def load_book_quantizable_classifier(path: Path | None = None) -> tuple[quantization.QuantizableMobileNetV3, ClassificationConfig, list[str]]:
    """The book's trained classifier as a float :class:`~mnv3lib.models.quantization.QuantizableMobileNetV3` (eval mode).

    Its BatchNorm layers get the momentum the model was trained with (the quantizable builders use
    TorchVision's 0.01), which matters when QAT fine-tunes it.
    """
    trained, config, classes = load_book_classifier(path)
    model = getattr(quantization, config.model)(num_classes=len(classes), width_mult=config.width_mult, dropout=config.dropout)
    model.load_state_dict(trained.state_dict())
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = config.bn_momentum
    return model.eval(), config, classes


def load_book_detector(name: str = "main", path: Path | None = None) -> tuple[torch.nn.Module, DetectionConfig]:
    """A trained mini-COCO detector of :data:`mnv3lib.book.runs.BOOK_DETECTORS` (float32, eval mode) and its config."""
    shipped = _book_file(DETECTOR_FILES, name, "detector")
    model, config, _ = _load_saved_model(
        path or shipped, DetectionConfig, lambda config, classes: build_detector(config, len(classes) + 1, len(PERSON_KEYPOINTS))
    )
    return model, config


def load_book_segmenter(name: str = "lraspp", path: Path | None = None) -> tuple[torch.nn.Module, SegmentationConfig]:
    """A trained mini-COCO segmentation model of :data:`SEGMENTER_FILES` (float32, eval mode) and its config."""
    shipped = _book_file(SEGMENTER_FILES, name, "segmentation model")
    model, config, _ = _load_saved_model(path or shipped, SegmentationConfig, lambda config, classes: build_segmenter(config, len(classes)))
    return model, config


def save_half(model: torch.nn.Module, config: Any, classes: list[str], path: Path, **extra: Any) -> Path:
    """Save ``model``'s weights in float16 with its config and class names (the loaders read them as float32)."""
    return save_checkpoint({"model": as_float16(model.state_dict()), "config": config.to_dict(), "classes": classes, **extra}, path)


def _processor() -> str:
    """The processor's model name (Linux reports it in /proc/cpuinfo, where ``platform.processor()`` is empty)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The torch version, thread count and processor of this process: where a result was made."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "processor": _processor()}


def write_results(path: Path, data: dict[str, Any], runs: dict[str, Any], command: str, *, made_on: dict[str, Any] | None = None,
                  **extra: Any) -> dict[str, Any]:  # fmt: skip
    """Write a chapter's results file: its data, its runs' records, the machine (``made_on``, default
    this one) and the command."""
    results = {"data": data, "runs": runs, **extra, "machine": made_on or machine(), "command": command}
    path.write_text(json.dumps(results, indent=1))
    return results
