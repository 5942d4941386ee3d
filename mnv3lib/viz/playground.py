"""A playground for a running kernel: a detector or a segmentation model on the reader's own picture.

The explorers of :mod:`.widgets` replay predictions computed in advance, so they work on a static
page. Running a model on an image the reader brings needs Python, so this one is made of ipywidgets
(7.x, as in Colab, and 8.x) and works in Colab, JupyterLab and VS Code, not on the published page:

* a photograph: one of scikit-image's (:mod:`mnv3lib.data.photos`), or the reader's own, uploaded;
* a model: TorchVision's pretrained ones when their weights can be had (:func:`torchvision_models`),
  and whatever else the caller passes (the book passes its trained models, always there);
* the score threshold and the input size;
* the picture, redrawn in Python with :mod:`.drawing`'s functions, and how long the model took.

The models are passed in, so this module knows nothing of the book; ``mnv3lib.book.playground``
wires in the book's own models.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn
from torchvision.models import WeightsEnum
from torchvision.models.detection import (
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    KeypointRCNN_ResNet50_FPN_Weights,
    SSDLite320_MobileNet_V3_Large_Weights,
)
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, LRASPP_MobileNet_V3_Large_Weights
from torchvision.transforms.v2 import functional as TF

from ..analysis.predict import detect, segment_scores, segmentation_preprocess
from ..checks import check_choice
from ..data.coco import COCO_PERSON_SKELETON
from ..data.photos import load_photographs
from ..models.pretrained import offline_note, pretrained_model
from ..models.weights import WeightsUnavailableError, available_weights
from .drawing import draw_detections, draw_semantic, filter_predictions, png_bytes

__all__ = ["TASKS", "PlaygroundModel", "Playground", "torchvision_models", "uploaded_files", "MAX_UPLOAD_SIDE"]

TASKS = ("detection", "segmentation")
MAX_UPLOAD_SIDE = 1024  # an uploaded picture is shrunk to this longest side, so that a phone's 12 MP photo stays quick
SIZES = (64, 1024, 8)  # the input size slider: smallest, largest, step


@dataclass(frozen=True)
class PlaygroundModel:
    """A model the playground offers.

    Attributes:
        load: Builds the model, in eval mode; called the first time it is chosen, then kept. It may
            raise :class:`~mnv3lib.models.weights.WeightsUnavailableError` (shown as one line).
        task: ``"detection"`` or ``"segmentation"``.
        classes: Detection: the names of labels 1, 2, ... (index 0 is label 1, as
            :func:`~mnv3lib.viz.drawing.draw_detections` takes them). Segmentation: the names of
            class ids 0, 1, ... (0 is the background).
        size: The input size the model was trained at (the slider starts there).
        mean, std: Segmentation: the normalisation of its inputs (None: [0, 1] images, as the book's).
        keypoint_label, skeleton: Detection: the label whose keypoints are drawn, and the 1-based
            pairs of keypoints joined by lines.
    """

    load: Callable[[], nn.Module]
    task: str
    classes: Sequence[str]
    size: int
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    keypoint_label: int | None = None
    skeleton: Sequence[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        check_choice(self.task, "task", TASKS)
        if not callable(self.load):
            raise TypeError(f"expected load to be a function that builds the model, got {self.load!r}")
        if not SIZES[0] <= self.size <= SIZES[1]:
            raise ValueError(f"expected size in [{SIZES[0]}, {SIZES[1]}], got {self.size!r}")


# TorchVision's pretrained models the playground offers when their weights can be had.
_TORCHVISION = {
    "detection": {
        "TorchVision Faster R-CNN MobileNetV3-Large FPN (COCO)": FasterRCNN_MobileNet_V3_Large_FPN_Weights.DEFAULT,
        "TorchVision Faster R-CNN MobileNetV3-Large 320 FPN (COCO)": FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.DEFAULT,
        "TorchVision SSDlite320 MobileNetV3-Large (COCO)": SSDLite320_MobileNet_V3_Large_Weights.DEFAULT,
        "TorchVision Keypoint R-CNN ResNet-50 FPN (COCO)": KeypointRCNN_ResNet50_FPN_Weights.DEFAULT,
    },
    "segmentation": {
        "TorchVision LR-ASPP MobileNetV3-Large (VOC classes)": LRASPP_MobileNet_V3_Large_Weights.DEFAULT,
        "TorchVision DeepLabV3 MobileNetV3-Large (VOC classes)": DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT,
    },
}
_DEFAULT_SIZES = {
    FasterRCNN_MobileNet_V3_Large_FPN_Weights: 800, FasterRCNN_MobileNet_V3_Large_320_FPN_Weights: 320,
    SSDLite320_MobileNet_V3_Large_Weights: 320, KeypointRCNN_ResNet50_FPN_Weights: 800,
}  # fmt: skip


def _torchvision_entry(task: str, member: WeightsEnum) -> PlaygroundModel:
    categories = list(member.meta["categories"])
    load = lambda: pretrained_model(member, progress=False)  # noqa: E731
    if task == "segmentation":
        preprocess = member.transforms()  # SemanticSegmentation: 520 px, ImageNet's mean and std
        return PlaygroundModel(load, task, categories, preprocess.resize_size[0], mean=preprocess.mean, std=preprocess.std)
    keypoints = "keypoint_names" in member.meta
    return PlaygroundModel(load, task, categories[1:], _DEFAULT_SIZES[type(member)],
                           keypoint_label=1 if keypoints else None, skeleton=COCO_PERSON_SKELETON if keypoints else None)  # fmt: skip


def torchvision_models(task: str, *, timeout: float = 5.0) -> dict[str, PlaygroundModel]:
    """TorchVision's pretrained models for ``task`` whose weights can be had now: cached in torch.hub's
    cache, or on a download server that answers within ``timeout`` seconds (offline: none, after at
    most ``timeout`` seconds). Nothing is downloaded until a model is chosen."""
    check_choice(task, "task", TASKS)
    usable = set(available_weights(_TORCHVISION[task].values(), timeout=timeout))
    return {name: _torchvision_entry(task, member) for name, member in _TORCHVISION[task].items() if member in usable}


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(file name, content)`` of each file in a ``FileUpload``'s value, in ipywidgets 8's format (a
    tuple of dicts with ``name`` and ``content``, a memoryview) or 7's (a dict of file name → dict with
    ``content``, bytes)."""
    if isinstance(value, Mapping):  # ipywidgets 7.x
        return [(str(name), bytes(item["content"])) for name, item in value.items()]
    if isinstance(value, (tuple, list)):  # ipywidgets 8.x
        return [(str(item["name"]), bytes(item["content"])) for item in value]
    raise TypeError(f"expected a FileUpload value (a tuple of dicts, or a dict in ipywidgets 7), got {type(value).__name__}")


def _decode(name: str, content: bytes) -> torch.Tensor:
    """An uploaded file as a uint8 ``(3, H, W)`` picture, its longest side at most :data:`MAX_UPLOAD_SIDE`."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            pixels = torch.frombuffer(bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8).reshape(image.height, image.width, 3)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{name} is not a picture this playground can read (PNG, JPEG, ...): {error}") from None
    picture = pixels.permute(2, 0, 1).contiguous()  # (3, H, W)
    longest = max(picture.shape[-2:])
    if longest > MAX_UPLOAD_SIDE:
        height, width = (round(side * MAX_UPLOAD_SIDE / longest) for side in picture.shape[-2:])
        picture = TF.resize(picture, [height, width], antialias=True)
    return picture


class Playground(widgets.VBox):
    """A picture, a model, a score threshold and an input size; the model's output drawn on the picture.

    Every change redraws. The model runs again only for a new picture, model or size (its output is
    kept for each); a new threshold only filters and redraws. The status line gives the time the
    model took, or why it could not run.

    Args:
        models: A name for each model of the menu → its :class:`PlaygroundModel`.
        photographs: Pictures to choose from, by name (default: every photograph of
            :mod:`mnv3lib.data.photos`), uint8 ``(3, H, W)``; uploads are added to them.
        note: A line shown above the controls (e.g. why some models are missing).

    Attributes:
        picture, upload, model, threshold, size: The controls (``Dropdown``, ``FileUpload``,
            ``Dropdown``, ``FloatSlider``, ``IntSlider``).
        image: The drawn picture (an ``ipywidgets.Image``; its value is a PNG file).
        status: What the model found and how long it took (an ``ipywidgets.HTML``).
    """

    def __init__(self, models: Mapping[str, PlaygroundModel], photographs: Mapping[str, torch.Tensor] | None = None, *, note: str = "") -> None:
        if not models or not all(isinstance(entry, PlaygroundModel) for entry in models.values()):
            raise TypeError(f"expected a non-empty mapping of names to PlaygroundModel, got {models!r}")
        self.models = dict(models)
        self.photographs = dict(load_photographs() if photographs is None else photographs)
        if not self.photographs:
            raise ValueError("expected at least one photograph to choose from")
        self._loaded: dict[str, nn.Module] = {}
        self._outputs: dict[tuple[str, str, int], tuple[Any, float]] = {}
        first = next(iter(self.models.values()))
        self.picture = widgets.Dropdown(options=list(self.photographs), description="Picture")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Your picture")
        self.model = widgets.Dropdown(options=list(self.models), description="Model", layout=widgets.Layout(width="34em"))
        self.threshold = widgets.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05, description="Score ≥", continuous_update=False)
        self.size = widgets.IntSlider(value=first.size, min=SIZES[0], max=SIZES[1], step=SIZES[2], description="Input size", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        header = [widgets.HTML(f"<i>{note}</i>")] if note else []
        controls = [widgets.HBox([self.picture, self.upload]), self.model, widgets.HBox([self.threshold, self.size])]
        super().__init__(header + controls + [self.image, self.status])
        self.picture.observe(lambda _: self.redraw(), names="value")
        self.threshold.observe(lambda _: self.redraw(), names="value")
        self.size.observe(lambda _: self.redraw(), names="value")
        self.model.observe(self._on_model, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.redraw()

    def __repr__(self) -> str:
        """What a page without a kernel shows instead of the controls (their plain-text form)."""
        return "Playground: it runs the models in a live Python kernel (open this notebook in Colab or Jupyter)"

    def _on_model(self, change: dict) -> None:
        entry = self.models[change["new"]]
        if self.size.value != entry.size:
            self.size.value = entry.size  # redraws
        else:
            self.redraw()

    def _on_upload(self, change: dict) -> None:
        files = uploaded_files(change["new"])
        if not files:
            return
        name, content = files[-1]
        try:
            picture = _decode(name, content)
        except ValueError as error:
            self.status.value = f"<b>{error}</b>"
            return
        key = f"yours: {name}"
        self.photographs[key] = picture
        self._outputs = {k: v for k, v in self._outputs.items() if k[0] != key}  # a new file under an old name
        if key not in self.picture.options:
            self.picture.options = [*self.picture.options, key]
        if self.picture.value != key:
            self.picture.value = key  # redraws
        else:
            self.redraw()

    def _model(self, name: str) -> nn.Module:
        if name not in self._loaded:
            self._loaded[name] = self.models[name].load().eval()
        return self._loaded[name]

    def _run(self, picture_name: str, model_name: str, size: int) -> tuple[Any, float]:
        """The model's output for a picture at a size (kept), and the milliseconds the call took."""
        key = (picture_name, model_name, size)
        if key not in self._outputs:
            entry, model, picture = self.models[model_name], self._model(model_name), self.photographs[picture_name]
            started = time.perf_counter()
            if entry.task == "detection":
                output = detect(model, [picture], size=size)[0]
            else:
                output = segment_scores(model, picture, segmentation_preprocess(size, entry.mean, entry.std))
            self._outputs[key] = (output, 1000 * (time.perf_counter() - started))
        return self._outputs[key]

    def redraw(self) -> None:
        """Run the chosen model on the chosen picture (unless its output is kept) and draw it."""
        name, picture = self.model.value, self.photographs[self.picture.value]
        entry, threshold, size = self.models[name], self.threshold.value, self.size.value
        try:
            output, milliseconds = self._run(self.picture.value, name, size)
        except WeightsUnavailableError as error:
            self.image.value = png_bytes(picture)
            self.status.value = offline_note(f"{name} on this picture", error)
            return
        width = max(2, round(max(picture.shape[-2:]) / 300))
        if entry.task == "detection":
            found = filter_predictions(output, threshold)
            drawn = draw_detections(picture, found, entry.classes, keypoint_label=entry.keypoint_label, skeleton=entry.skeleton, width=width)
            labels = [entry.classes[label - 1] for label in found["labels"].tolist()]
            summary = f"{len(labels)} detections at score ≥ {threshold:.2f}" + (f": {', '.join(labels[:12])}" if labels else "")
        else:
            classes, confidence = output
            shown = torch.where(confidence >= threshold, classes, torch.full_like(classes, 255))  # 255: not drawn
            drawn = draw_semantic(picture, shown)
            present = [entry.classes[c] for c in shown.unique().tolist() if 0 < c < 255]
            summary = f"pixels at probability ≥ {threshold:.2f}: {', '.join(present) or 'background only'}"
        self.image.value = png_bytes(drawn)
        self.status.value = f"{name}: {summary} · {milliseconds:.0f} ms at input size {size} on {torch.get_num_threads()} CPU threads"
