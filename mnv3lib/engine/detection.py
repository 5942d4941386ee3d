"""Training and COCO evaluation of the MobileNetV3 detectors, after TorchVision's ``references/detection``.

SGD with momentum, a linear warm-up over the first iterations, a multi-step learning-rate decay,
atomic checkpoints after every epoch and exact resume. Evaluation is pycocotools' ``COCOeval``
(box AP, and keypoint AP for keypoint models). Chapter 4 ("Detection and keypoints") trains the book's
detector with it (``python -m mnv3lib.book chapter4``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.transforms import v2
from tqdm.auto import tqdm

from ..models import detection
from .checkpoint import load_features, restore_run, save_run
from ..checks import check_choice, check_positive
from ..data.coco import CocoFolder
from ..data.minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS, MiniCocoScenes, coco_dict, person_keypoints_dict
from .reproducibility import seed_epoch

__all__ = [
    "DetectionConfig",
    "DetectionEpoch",
    "DetectionResult",
    "label_space",
    "load_backbone",
    "build_detector",
    "detection_transforms",
    "collate",
    "lr_factor",
    "train_one_epoch",
    "coco_predictions",
    "coco_ground_truth",
    "coco_summary",
    "evaluate_coco",
    "fit_detection",
]

MODELS = ("fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn", "keypointrcnn_mobilenet_v3_large_fpn")
LIGHT_BOX_HEAD = 128  # the box head's hidden width with light_heads (TorchVision: 1024)
KEYPOINT_SIGMA = 0.05  # COCOeval's per-keypoint OKS falloff for the stick figures (COCO's are 0.025-0.107)


@dataclass(frozen=True)
class DetectionConfig:
    """A detection training run. Names follow TorchVision's ``references/detection/train.py`` flags."""

    # model
    model: str = "keypointrcnn_mobilenet_v3_large_fpn"  # --model
    light_heads: bool = True  # a 128-d box head and a 4×64 keypoint head, so that it trains on a CPU
    min_size: int = 256  # images are resized so that their short side is min_size ...
    max_size: int = 256  # ... and their long side at most max_size
    trainable_backbone_layers: int | None = None  # --trainable-backbone-layers (None: all, from scratch)
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
    lr_steps: tuple[int, ...] = (8, 11)  # --lr-steps: epochs at which the rate is multiplied by lr_gamma
    lr_gamma: float = 0.1
    warmup_iters: int = 200  # linear warm-up over the first iterations of epoch 1
    warmup_factor: float = 0.001
    # data and run
    seed: int = 0
    workers: int = 0  # -j
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # anything else for the model builder

    def __post_init__(self) -> None:
        check_choice(self.model, "detection model", MODELS)
        for name in ("min_size", "max_size", "epochs", "batch_size", "rpn_pre_nms_top_n_train", "rpn_post_nms_top_n_train", "box_batch_size_per_image"):
            check_positive(getattr(self, name), name, integer=True)
        check_positive(self.lr, "lr")
        if self.warmup_iters < 0 or not 0 < self.warmup_factor <= 1:
            raise ValueError(f"expected warmup_iters >= 0 and 0 < warmup_factor <= 1, got {self.warmup_iters}, {self.warmup_factor}")
        if list(self.lr_steps) != sorted(self.lr_steps):
            raise ValueError(f"expected increasing lr_steps, got {self.lr_steps!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DetectionConfig:
        return cls(**{**values, "lr_steps": tuple(values.get("lr_steps", ()))})


@dataclass(frozen=True)
class DetectionEpoch:
    """One epoch's record: losses are means over its steps; APs are COCO's, in [0, 1] (nan if not evaluated)."""

    epoch: int
    lr: float
    losses: dict[str, float]
    bbox_ap: float
    bbox_ap50: float
    keypoints_ap: float
    seconds: float


@dataclass
class DetectionResult:
    config: DetectionConfig
    history: list[DetectionEpoch]
    model: nn.Module
    checkpoint: Path | None = None


def label_space(dataset: MiniCocoScenes | CocoFolder) -> tuple[int, int]:
    """``(num_classes, num_keypoints)`` of a dataset: the largest category id + 1 (0 is the background),
    and the person category's keypoints (0 if none)."""
    if isinstance(dataset, CocoFolder):
        return max(dataset.coco.cats) + 1, dataset.num_keypoints
    return len(MINICOCO_CLASSES) + 1, len(PERSON_KEYPOINTS)


def load_backbone(model: nn.Module, path: str | Path) -> None:
    """Start a detector's backbone from a MobileNetV3 classification checkpoint (its ``features``; the
    FPN and the heads keep their initialisation). See :func:`mnv3lib.engine.checkpoint.load_features`."""
    load_features(model.backbone.body, path)


def build_detector(config: DetectionConfig, num_classes: int, num_keypoints: int | None = None) -> nn.Module:
    """The detector ``config`` names, randomly initialised, with ``num_classes`` including the background."""
    kwargs: dict[str, Any] = {
        "min_size": config.min_size, "max_size": config.max_size, "trainable_backbone_layers": config.trainable_backbone_layers,
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
        return builder(num_classes=num_classes, num_keypoints=num_keypoints, light_head=config.light_heads, **kwargs)
    return builder(num_classes=num_classes, **kwargs)


def detection_transforms(train: bool) -> v2.Compose:
    """uint8 images to floats in [0, 1]; colour jitter when training (the scenes' geometry is already random)."""
    steps: list[nn.Module] = [v2.RandomPhotometricDistort(p=0.5)] if train else []
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


def collate(batch: Sequence[tuple[Any, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """A detection batch: a list of images and a list of targets (images may differ in size)."""
    images, targets = zip(*batch)
    return [image.as_subclass(torch.Tensor) for image in images], [
        {key: value.as_subclass(torch.Tensor) if isinstance(value, torch.Tensor) else value for key, value in t.items() if key != "masks"}
        for t in targets
    ]


def lr_factor(config: DetectionConfig, epoch: int, iteration: int) -> float:
    """Learning-rate multiplier at ``iteration`` (0-based, within the epoch) of ``epoch`` (0-based): the
    step decay, times the linear warm-up during the first ``warmup_iters`` iterations of epoch 0."""
    factor = config.lr_gamma ** sum(epoch >= step for step in config.lr_steps)
    if epoch == 0 and iteration < config.warmup_iters:
        alpha = iteration / config.warmup_iters
        factor *= config.warmup_factor * (1 - alpha) + alpha
    return factor


def train_one_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, config: DetectionConfig, epoch: int, *, progress: bool = False
) -> dict[str, float]:
    """One pass over ``loader``; returns the mean of each loss. Raises on a non-finite loss."""
    model.train()
    totals: dict[str, float] = {}
    steps = 0
    batches = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False) if progress else loader
    for iteration, (images, targets) in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(config, epoch, iteration)
        losses = model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch + 1}, step {iteration}: {({k: v.item() for k, v in losses.items()})}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + value.item()
        totals["loss"] = totals.get("loss", 0.0) + loss.item()
        steps += 1
    return {name: total / max(steps, 1) for name, total in totals.items()}


@torch.no_grad()
def coco_predictions(model: nn.Module, dataset: Dataset, *, batch_size: int = 8, keypoint_label: int | None = None) -> tuple[list[dict], list[dict]]:
    """Run ``model`` over ``dataset`` and return COCO result lists ``(boxes, keypoints)``.

    Image ids are the targets' ``image_id``. Predicted labels are used as category ids. Keypoints are
    reported for detections of ``keypoint_label`` only.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    boxes, keypoints = [], []
    for images, targets in loader:
        for output, target in zip(model(images), targets):
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
    ``detection_transforms``.
    """
    instances = dataset.coco.dataset if isinstance(dataset, CocoFolder) else coco_dict(dataset)  # coco_dict draws every scene again
    people = person_keypoints_dict(instances)
    person = people["categories"][0] if people["categories"] else None
    boxes, keypoints = coco_predictions(model, dataset, batch_size=batch_size, keypoint_label=person["id"] if person else None)
    box_stats = coco_summary(coco_ground_truth(instances), boxes, "bbox")
    metrics = {"bbox_ap": float(box_stats[0]), "bbox_ap50": float(box_stats[1]), "keypoints_ap": float("nan")}
    if person is not None and getattr(model, "roi_heads", None) is not None and model.roi_heads.has_keypoint():
        keypoint_stats = coco_summary(coco_ground_truth(people), keypoints, "keypoints", len(person["keypoints"]))
        metrics["keypoints_ap"] = float(keypoint_stats[0])
    return metrics


def fit_detection(
    config: DetectionConfig,
    train_set: MiniCocoScenes | CocoFolder,
    val_set: MiniCocoScenes | CocoFolder,
    *,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    stop_after_epoch: int | None = None,
    eval_every: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> DetectionResult:
    """Train the detector of ``config`` on ``train_set``, evaluating COCO AP on ``val_set``.

    Args:
        config: The run's settings.
        train_set, val_set: Mini-COCO scenes or COCO folders (their transforms are set here).
        output_dir: Where ``checkpoint.pt`` goes after every epoch (atomically). None keeps it in memory.
        resume: A ``checkpoint.pt`` to continue from; its config must equal ``config``. The resumed run
            ends bit-identical to an uninterrupted one.
        stop_after_epoch: Return after this many epochs (to split a run).
        eval_every: Evaluate every this many epochs (and always after the last).
        progress: Show progress bars.
        log: Called with one line per epoch.
    """
    check_positive(eval_every, "eval_every", integer=True)
    train_set.transforms, val_set.transforms = detection_transforms(train=True), detection_transforms(train=False)
    torch.manual_seed(config.seed)
    model = build_detector(config, *label_space(train_set))
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    history: list[DetectionEpoch] = []
    start_epoch = 0
    if resume is not None:
        records, start_epoch = restore_run(resume, config, model, optimizer)
        history = [DetectionEpoch(**e) for e in records]
    elif config.backbone_weights is not None:
        load_backbone(model, config.backbone_weights)
    output = Path(output_dir) if output_dir is not None else None
    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    for epoch in range(start_epoch, last_epoch):
        started = time.perf_counter()
        shuffle = seed_epoch(config.seed, epoch)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=shuffle, num_workers=config.workers, collate_fn=collate, drop_last=True)
        losses = train_one_epoch(model, loader, optimizer, config, epoch, progress=progress)
        evaluated = (epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs
        metrics = evaluate_coco(model, val_set) if evaluated else {"bbox_ap": float("nan"), "bbox_ap50": float("nan"), "keypoints_ap": float("nan")}
        lr = optimizer.param_groups[0]["lr"]  # the rate of the epoch's last step (after any warm-up)
        record = DetectionEpoch(epoch + 1, lr, losses, seconds=round(time.perf_counter() - started, 1), **metrics)
        history.append(record)
        if log:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {losses['loss']:.4f}, box AP {metrics['bbox_ap']:.3f} (AP50 {metrics['bbox_ap50']:.3f}), "
                f"keypoint AP {metrics['keypoints_ap']:.3f}, {record.seconds:.0f} s")  # fmt: skip
        if output is not None:
            save_run(output / "checkpoint.pt", config, model, optimizer, history)
    return DetectionResult(config, history, model, output / "checkpoint.pt" if output is not None else None)
