"""The playground of Chapters 4 and 6 (:class:`mnv3lib.viz.playground.Playground`), with the book's
own trained models always in its menu and TorchVision's pretrained ones when they can be had."""

from __future__ import annotations

from ..checks import check_choice
from ..data.minicoco import MINICOCO_CLASSES, PERSON_ID, PERSON_SKELETON
from ..engine.detection import DetectionConfig
from ..models.ssdlite import SSDLITE_SIZE
from ..viz.playground import TASKS, Playground, PlaygroundModel, torchvision_models
from .artifacts import DETECTOR_FILES, SEGMENTER_FILES, load_book_detector, load_book_segmenter
from .runs import BOOK_DETECTORS, BOOK_SEGMENTERS

__all__ = ["book_models", "book_playground"]

_DETECTOR_NAMES = {
    "main": "the book's keypoint R-CNN (mini-COCO, 256 px)",
    "low_res": "the book's keypoint R-CNN (mini-COCO, 128 px)",
    "ssdlite": "the book's SSDlite320 (mini-COCO)",
    "fasterrcnn_320": "the book's Faster R-CNN 320 (mini-COCO)",
}
_SEGMENTER_NAMES = {"lraspp": "the book's LR-ASPP (mini-COCO)", "lraspp_undilated": "the book's undilated LR-ASPP (mini-COCO)"}
ONLINE_NOTE = "TorchVision's pretrained models join this menu when the notebook runs online (in Colab, for example)."


def _detector_entry(name: str, config: DetectionConfig) -> PlaygroundModel:
    keypoints = config.model.startswith("keypointrcnn")
    size = SSDLITE_SIZE[0] if config.model.startswith("ssdlite") else config.min_size  # SSDlite resizes every image to 320×320
    return PlaygroundModel(lambda: load_book_detector(name)[0], "detection", MINICOCO_CLASSES, size,
                           keypoint_label=PERSON_ID if keypoints else None, skeleton=PERSON_SKELETON if keypoints else None)  # fmt: skip


def book_models(task: str) -> dict[str, PlaygroundModel]:
    """The book's trained models of ``task`` that ship with the library, as playground entries."""
    check_choice(task, "task", TASKS)
    if task == "detection":
        return {_DETECTOR_NAMES[name]: _detector_entry(name, BOOK_DETECTORS[name]) for name in DETECTOR_FILES}
    classes = ("background", *MINICOCO_CLASSES)
    return {
        _SEGMENTER_NAMES[name]: PlaygroundModel(lambda name=name: load_book_segmenter(name)[0], "segmentation", classes, BOOK_SEGMENTERS[name].image_size)
        for name in SEGMENTER_FILES
    }


def book_playground(task: str, *, timeout: float = 5.0) -> Playground:
    """The playground for ``task`` (``"detection"`` or ``"segmentation"``): TorchVision's pretrained
    models first when their weights can be had (probed for at most ``timeout`` seconds), then the book's."""
    online = torchvision_models(task, timeout=timeout)
    return Playground({**online, **book_models(task)}, note="" if online else ONLINE_NOTE)
