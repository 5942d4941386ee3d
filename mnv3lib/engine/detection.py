"""Training and COCO evaluation of the MobileNetV3 detectors, after TorchVision's ``references/detection``.

SGD with momentum, a linear warm-up over the first iterations, a multi-step or cosine learning-rate decay,
TorchVision's detection augmentations (``hflip``, ``ssd``, ``ssdlite``:
:func:`~mnv3lib.data.transforms.detection_transforms`), each batch checked once as it is collated
(:func:`checked_collate`), atomic checkpoints after every epoch and exact resume. Evaluation is
pycocotools' ``COCOeval`` (box AP, and keypoint AP for keypoint models). Chapter 4 ("Detection and keypoints") trains the book's
detector with it (``python -m mnv3lib.book detection``).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

from ..devices import model_device, move
from ..models import detection
from ..models.ssdlite import SSDLiteFeatures
from . import distributed
from .checkpoint import as_float32, load_checkpoint, load_features
from .loop import Config, EpochRecord, Task
from ..checks import check_choice, check_positive, check_range
from ..data.coco import CocoFolder
from ..data.transforms import AUGMENTATIONS, TransformedDataset, detection_collate, detection_transforms
from ..models.detection_inputs import check_detection_inputs
from ..data.minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS, MiniCocoScenes, coco_dict, person_keypoints_dict

__all__ = [
    "DetectionTask",
    "DetectionConfig",
    "DetectionEpoch",
    "label_space",
    "load_backbone",
    "build_detector",
    "checked_collate",
    "lr_factor",
    "coco_predictions",
    "coco_ground_truth",
    "coco_summary",
    "evaluate_coco",
]

MODELS = ("fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn", "keypointrcnn_mobilenet_v3_large_fpn", "ssdlite320_mobilenet_v3_large")
LR_SCHEDULERS = ("multisteplr", "cosineannealinglr")  # TorchVision's --lr-scheduler
LIGHT_BOX_HEAD = 128  # the box head's hidden width with light_heads (TorchVision: 1024)
KEYPOINT_SIGMA = 0.05  # COCOeval's per-keypoint OKS falloff for the stick figures (COCO's are 0.025-0.107)


@dataclass(frozen=True)
class DetectionConfig(Config):
    """A detection training run. Names follow TorchVision's ``references/detection/train.py`` flags."""

    # model
    model: str = "keypointrcnn_mobilenet_v3_large_fpn"  # --model
    light_heads: bool = True  # a 128-d box head and a 4×64 keypoint head, so that it trains on a CPU (R-CNNs)
    min_size: int = 256  # images are resized so that their short side is min_size ... (R-CNNs; SSDlite: 320×320)
    max_size: int = 256  # ... and their long side at most max_size
    trainable_backbone_layers: int | None = None  # --trainable-backbone-layers (None: all stages train)
    # a classification checkpoint (its "model" state dict) whose ``features`` start the backbone when a run
    # starts (TorchVision: ImageNet weights); None: from scratch
    backbone_weights: str | None = None
    # the RPN and RoI sampling while training (TorchVision: 2000, 2000, 512, for up to ~100 objects per image;
    # a scene has at most 5)
    rpn_pre_nms_top_n_train: int = 600
    rpn_post_nms_top_n_train: int = 300
    box_batch_size_per_image: int = 64
    # optimisation
    epochs: int = 12  # --epochs
    batch_size: int = 8  # -b (images per step)
    lr: float = 0.02  # --lr (TorchVision: 0.02 for 16 images per step)
    momentum: float = 0.9
    weight_decay: float = 1e-4  # --wd
    lr_scheduler: str = "multisteplr"  # --lr-scheduler: "multisteplr" (lr_steps, lr_gamma) or "cosineannealinglr"
    lr_steps: tuple[int, ...] = (8, 11)  # --lr-steps: epochs at which the rate is multiplied by lr_gamma
    lr_gamma: float = 0.1
    warmup_iters: int = 200  # linear warm-up over the first iterations of epoch 1
    warmup_factor: float = 0.001
    # data and run
    data_augmentation: str = "photometric"  # --data-augmentation: one of AUGMENTATIONS (see data.transforms.detection_transforms)
    seed: int = 0
    workers: int = 0  # -j
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # anything else for the model builder

    def __post_init__(self) -> None:
        check_choice(self.model, "detection model", MODELS)
        check_choice(self.lr_scheduler, "lr_scheduler", LR_SCHEDULERS)
        check_choice(self.data_augmentation, "data_augmentation", AUGMENTATIONS)
        if self.model.startswith("keypointrcnn") and self.data_augmentation in ("hflip", "ssd", "ssdlite"):
            raise ValueError(f"data_augmentation {self.data_augmentation!r} moves boxes but not keypoints (a flip also swaps left and "
                             "right): use 'photometric' for keypoint models")  # fmt: skip
        for name in ("min_size", "max_size", "epochs", "batch_size", "rpn_pre_nms_top_n_train", "rpn_post_nms_top_n_train", "box_batch_size_per_image"):
            check_positive(getattr(self, name), name, integer=True)
        check_positive(self.lr, "lr")
        if self.warmup_iters < 0 or not 0 < self.warmup_factor <= 1:
            raise ValueError(f"expected warmup_iters >= 0 and 0 < warmup_factor <= 1, got {self.warmup_iters}, {self.warmup_factor}")
        if list(self.lr_steps) != sorted(self.lr_steps):
            raise ValueError(f"expected increasing lr_steps, got {self.lr_steps!r}")
        check_range(self.lr_gamma, "lr_gamma", 0.0, 1.0, low_open=True)
        check_range(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        check_range(self.weight_decay, "weight_decay", 0.0)
        if self.trainable_backbone_layers is not None and (isinstance(self.trainable_backbone_layers, bool) or self.trainable_backbone_layers not in range(7)):
            raise ValueError(f"expected trainable_backbone_layers in 0..6 (or None), got {self.trainable_backbone_layers!r}")


@dataclass(frozen=True)
class DetectionEpoch(EpochRecord):
    """One epoch's record: COCO's box and keypoint APs, in [0, 1] (nan if not evaluated)."""

    bbox_ap: float
    bbox_ap50: float
    keypoints_ap: float


def label_space(dataset: MiniCocoScenes | CocoFolder) -> tuple[int, int]:
    """``(num_classes, num_keypoints)`` of a dataset: the largest category id + 1 (0 is the background),
    and the person category's keypoints (0 if none)."""
    if isinstance(dataset, CocoFolder):
        return max(dataset.coco.cats) + 1, dataset.num_keypoints
    return len(MINICOCO_CLASSES) + 1, len(PERSON_KEYPOINTS)


def load_backbone(model: nn.Module, path: str | Path) -> None:
    """Start a detector's backbone from a MobileNetV3 classification checkpoint (its ``features``; the
    FPN, SSDlite's extra blocks and the heads keep their initialisation). See
    :func:`mnv3lib.engine.checkpoint.load_features`."""
    if isinstance(model.backbone, SSDLiteFeatures):
        state = load_checkpoint(path)["model"]
        model.backbone.load_backbone(as_float32({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}))
    else:
        load_features(model.backbone.body, path)


def build_detector(config: DetectionConfig, num_classes: int, num_keypoints: int | None = None) -> nn.Module:
    """The detector ``config`` names, randomly initialised, with ``num_classes`` including the background."""
    own_backbone = config.backbone_weights is not None  # loaded after the build: the builder would see "from scratch"
    if config.model == "ssdlite320_mobilenet_v3_large":  # fixed 320×320 input, no RPN or RoI heads, light heads already
        model = detection.ssdlite320_mobilenet_v3_large(num_classes=num_classes, reduced_tail=False if own_backbone else None, **config.model_kwargs)
        if own_backbone and config.trainable_backbone_layers is not None:
            model.backbone.freeze_stages(config.trainable_backbone_layers)
        return model
    kwargs: dict[str, Any] = {
        "min_size": config.min_size, "max_size": config.max_size, "trainable_backbone_layers": None if own_backbone else config.trainable_backbone_layers,
        "rpn_pre_nms_top_n_train": config.rpn_pre_nms_top_n_train, "rpn_post_nms_top_n_train": config.rpn_post_nms_top_n_train,
        "box_batch_size_per_image": config.box_batch_size_per_image, **config.model_kwargs,
    }  # fmt: skip
    if config.light_heads:
        kwargs["box_head"] = TwoMLPHead(detection.FPN_CHANNELS * 7 * 7, LIGHT_BOX_HEAD)
        kwargs["box_predictor"] = FastRCNNPredictor(LIGHT_BOX_HEAD, num_classes)
    builder = getattr(detection, config.model)
    if config.model.startswith("keypointrcnn"):
        if not num_keypoints:
            raise ValueError("a keypoint model needs num_keypoints > 0 (the dataset has no keypoint category)")
        model = builder(num_classes=num_classes, num_keypoints=num_keypoints, light_head=config.light_heads, **kwargs)
    else:
        model = builder(num_classes=num_classes, **kwargs)
    if own_backbone and config.trainable_backbone_layers is not None:
        detection.freeze_backbone_stages(model, config.trainable_backbone_layers)
    return model


def checked_collate(samples: Sequence[tuple[Any, dict[str, Any]]], **checks: Any) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """The detection batch (:func:`~mnv3lib.data.transforms.detection_collate`), checked as it is made by
    :func:`~mnv3lib.models.detection.check_detection_inputs` with ``checks`` (a detector's
    ``input_checks()``): on the CPU, once per sample, so that the training step need not read the batch
    on the device."""
    images, targets = detection_collate(samples)
    check_detection_inputs(images, targets, values=True, **checks)
    return images, targets


def lr_factor(config: DetectionConfig, epoch: int, iteration: int) -> float:
    """Learning-rate multiplier at ``iteration`` (0-based, within the epoch) of ``epoch`` (0-based): the
    step decay (or the cosine over the epochs, stepped once per epoch as TorchVision's
    ``CosineAnnealingLR(T_max=epochs)``), times the linear warm-up during the first ``warmup_iters``
    iterations of epoch 0."""
    if config.lr_scheduler == "cosineannealinglr":
        factor = 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    else:
        factor = config.lr_gamma ** sum(epoch >= step for step in config.lr_steps)
    if epoch == 0 and iteration < config.warmup_iters:
        alpha = iteration / config.warmup_iters
        factor *= config.warmup_factor * (1 - alpha) + alpha
    return factor


@torch.no_grad()
def coco_predictions(model: nn.Module, dataset: Dataset, *, batch_size: int = 8, keypoint_label: int | None = None) -> tuple[list[dict], list[dict]]:
    """Run ``model`` over ``dataset`` and return COCO result lists ``(boxes, keypoints)``.

    Image ids are the targets' ``image_id``. Predicted labels are used as category ids. Keypoints are
    reported for detections of ``keypoint_label`` only. The model runs on its device.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=detection_collate)
    boxes, keypoints = [], []
    device = model_device(model)
    for images, targets in loader:
        for output, target in zip(move(model(move(images, device)), torch.device("cpu")), targets):
            index = int(target["image_id"])
            xywh = output["boxes"].clone()
            xywh[:, 2:] -= xywh[:, :2]
            for row, (box, score, label) in enumerate(zip(xywh.tolist(), output["scores"].tolist(), output["labels"].tolist())):
                boxes.append({"image_id": index, "category_id": label, "bbox": [round(v, 2) for v in box], "score": round(score, 5)})
                if "keypoints" in output and label == keypoint_label:
                    points = output["keypoints"][row].clone()
                    points[:, 2] = 1
                    keypoints.append({"image_id": index, "category_id": label, "keypoints": [round(v, 2) for v in points.flatten().tolist()], "score": round(score, 5)})
    return boxes, keypoints


def coco_ground_truth(dataset: dict[str, Any]) -> COCO:
    """A pycocotools ``COCO`` index over a COCO dict (e.g. :func:`~mnv3lib.data.minicoco.coco_dict`'s), quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = dataset
        ground_truth.createIndex()
    return ground_truth


def coco_summary(ground_truth: COCO, results: list[dict], iou_type: str, num_keypoints: int = 0) -> np.ndarray:
    """``COCOeval``'s 12 summary numbers (10 for keypoints; AP@[.5:.95] first) for ``results`` in COCO format.

    ``iou_type`` is ``"bbox"``, ``"segm"`` or ``"keypoints"`` (with ``num_keypoints``, each scored with
    OKS falloff :data:`KEYPOINT_SIGMA`). No results score 0.
    """
    if not results:
        return np.zeros(12 if iou_type != "keypoints" else 10)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(results), iou_type)
        if iou_type == "keypoints":
            evaluator.params.kpt_oks_sigmas = np.full(num_keypoints, KEYPOINT_SIGMA)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def evaluate_coco(model: nn.Module, dataset: MiniCocoScenes | CocoFolder, *, batch_size: int = 8) -> dict[str, float]:
    """COCO box AP (@[.5:.95], @.5) and, for a keypoint model, keypoint AP of ``model`` on ``dataset``.

    ``dataset`` is a :class:`~mnv3lib.data.minicoco.MiniCocoScenes` or a
    :class:`~mnv3lib.data.coco.CocoFolder` (real COCO: its own annotations are the ground truth), with
    ``detection_transforms`` (its own, or through a :class:`~mnv3lib.data.transforms.TransformedDataset`).
    Under torchrun each process predicts its share of ``dataset`` and the predictions of all processes
    are gathered before COCOeval scores them, as TorchVision's references do.
    """
    source = dataset.dataset if isinstance(dataset, TransformedDataset) else dataset  # the ground truth is the source's
    instances = source.coco.dataset if isinstance(source, CocoFolder) else coco_dict(source)  # coco_dict draws every scene again
    if not instances["annotations"]:
        raise ValueError("cannot compute COCO AP: the ground truth has no annotations (COCOeval would report -1)")
    people = person_keypoints_dict(instances)
    person = people["categories"][0] if people["categories"] else None
    boxes, keypoints = coco_predictions(model, distributed.shard(dataset), batch_size=batch_size, keypoint_label=person["id"] if person else None)
    boxes, keypoints = distributed.gather_objects(boxes), distributed.gather_objects(keypoints)
    box_stats = coco_summary(coco_ground_truth(instances), boxes, "bbox")
    metrics = {"bbox_ap": float(box_stats[0]), "bbox_ap50": float(box_stats[1]), "keypoints_ap": float("nan")}
    if person is not None and getattr(model, "roi_heads", None) is not None and model.roi_heads.has_keypoint():
        keypoint_stats = coco_summary(coco_ground_truth(people), keypoints, "keypoints", len(person["keypoints"]))
        metrics["keypoints_ap"] = float(keypoint_stats[0])
    return metrics


class DetectionTask(Task):
    """Detection (and keypoints) with TorchVision's detector losses, warm-up and step decay, and COCO AP."""

    collate_fn = staticmethod(detection_collate)  # checked once the model is known (start)
    record_type = DetectionEpoch
    no_channels_last = "a detector takes a list of images of different sizes and batches them itself (TorchVision's detection references offer no channels-last either)"
    no_compile = ("its region proposals and NMS have data-dependent shapes and its inputs vary in size, so the graph breaks and recompiles "
                  "at every new size; TorchVision's detection references do not compile either")  # fmt: skip

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config

    def datasets(self, train_set: Dataset, val_set: Dataset) -> tuple[Dataset, Dataset]:
        train_transform = detection_transforms(train=True, augmentation=self.config.data_augmentation)
        return TransformedDataset(train_set, train_transform, pairs=True), TransformedDataset(val_set, detection_transforms(train=False), pairs=True)

    def build_model(self, train_set: Dataset) -> nn.Module:
        return build_detector(self.config, *label_space(train_set))

    def initialise(self, model: nn.Module) -> None:
        if self.config.backbone_weights is not None:
            load_backbone(model, self.config.backbone_weights)

    def build_optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(parameters, lr=self.config.lr, momentum=self.config.momentum, weight_decay=self.config.weight_decay)

    def lr_factor(self, epoch: int, iteration: int, steps: int) -> float:
        return lr_factor(self.config, epoch, iteration)

    def start(self, model: nn.Module) -> None:
        input_checks = getattr(model, "input_checks", None)  # the book's detectors; TorchVision's check nothing
        if input_checks is not None:
            self.collate_fn = partial(checked_collate, **input_checks())

    def loss(self, model: nn.Module, batch: Any) -> tuple[dict[str, torch.Tensor], int, dict[str, torch.Tensor]]:
        images, targets = batch
        losses = model(images, targets)
        return {**losses, "loss": sum(losses.values())}, len(images), {}

    def evaluate(self, model: nn.Module, val_set: Dataset) -> dict[str, float]:
        return evaluate_coco(model, val_set)

    def not_evaluated(self) -> dict[str, float]:
        return {"bbox_ap": float("nan"), "bbox_ap50": float("nan"), "keypoints_ap": float("nan")}

    def log_line(self, record: DetectionEpoch) -> str:
        return (f"epoch {record.epoch}/{self.config.epochs}: loss {record.losses.get('loss', float('nan')):.4f}, box AP {record.bbox_ap:.3f} "
                f"(AP50 {record.bbox_ap50:.3f}), keypoint AP {record.keypoints_ap:.3f}, {record.seconds:.0f} s")  # fmt: skip
