"""The book's longer training runs: their definitions, and the command that re-creates their results.

Chapter 2 cannot train six models in its five-minute budget on a laptop CPU, so these runs live here.
``python -m mnv3lib.book classification`` trains them (about 100 minutes, each run on one CPU thread, as the
results file records) and writes

* ``artifacts/classification_results.json``: every run's config and per-epoch history, and the recipe table;
* ``artifacts/shapes_mobilenet_v3_small.pt``: the best run's weights (float16, ~3 MB), which Chapter 2
  re-evaluates live and Chapter 3 (quantization) starts from.

``detection`` and ``segmentation`` train the detectors and segmentation models likewise
(:mod:`mnv3lib.book.artifacts` loads what they write).

Scaling the recipe down: learning rates follow the linear scaling rule from the recipe's global batch
of 1024 down to ours (RMSProp: 0.064 × 64 / 1024 = 0.004). The decay keeps each recipe's *shape*
(per epoch for MobileNetV2, every 2 epochs for MobileNetV3) but ends near 5% of the initial rate:
compressing the recipes' total decay (to 0.03% and 0.2%) into 30 epochs stopped learning half-way.
BatchNorm's running statistics use momentum 0.1 instead of TorchVision's 0.01: at ~60 steps per
epoch instead of ImageNet's ~1250, 0.01 lags the weights so much that validation stays at chance
for the first third of a run (we measured it).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..analysis.introspection import count_parameters
from ..data.minicoco import MINICOCO_CLASSES
from ..data.splits import SHAPES_CROP_SIZES, minicoco_splits, shapes_splits
from ..engine.checkpoint import load_checkpoint, save_checkpoint
from ..engine import fit
from ..engine.classification import ClassificationConfig
from ..engine.detection import DetectionConfig
from ..engine.segmentation import SegmentationConfig, SegmentationTask, evaluate_segmentation
from .artifacts import ARTIFACTS, CLASSIFICATION_RESULTS, DETECTION_RESULTS, SEGMENTATION_RESULTS, CLASSIFIER_FILE, DETECTOR_FILES, SEGMENTER_FILES
from .artifacts import machine, save_half, write_results

__all__ = [
    "BOOK_DATA",
    "BOOK_EPOCHS",
    "COMMON",
    "RUNS",
    "RecipeRow",
    "RECIPE_ROWS",
    "OPTIMIZER_RUNS",
    "EPS_STUDY",
    "EPS_STUDY_SEEDS",
    "EPS_STUDY_RUNS",
    "eps_study_summary",
    "QAT_SCHEDULE",
    "BOOK_SCENES",
    "BOOK_BACKBONE",
    "BOOK_DETECTOR",
    "BOOK_DETECTOR_LOW_RES",
    "BOOK_SSDLITE",
    "BOOK_FASTERRCNN_320",
    "BOOK_DETECTORS",
    "BOOK_SEGMENTATION_SCENES",
    "BOOK_SEGMENTERS",
    "LOW_RES_SEGMENTATION_SIZE",
    "book_splits",
    "run_classification",
    "run_detection",
    "run_segmentation",
]

# The book's classification data: 10 classes, 64×64 images, up to two distractor shapes each.
BOOK_DATA = {"image_size": 64, "num_distractors": (0, 2), "train_size": 4_000, "val_size": 2_000, "seed": 0}
BOOK_EPOCHS = 30
BATCH_SIZE = 64
LINEAR_SCALE = BATCH_SIZE / 1024  # the recipe's global batch is 8 GPUs × 128

COMMON = {"model": "mobilenet_v3_small", "epochs": BOOK_EPOCHS, "batch_size": BATCH_SIZE, "bn_momentum": 0.1, **SHAPES_CROP_SIZES}
# MobileNetV2's recipe: SGD with momentum, wd 4e-5, decay every epoch
MOBILENET_V2_STYLE = {"opt": "sgd", "lr": 0.05, "weight_decay": 4e-5, "lr_step_size": 1, "lr_gamma": 0.9}
# MobileNetV3's recipe: RMSprop, lr 0.064 per 1024 images, wd 1e-5, decay every 2 epochs
MOBILENET_V3_SCHEDULE = {"lr": 0.064 * LINEAR_SCALE, "weight_decay": 1e-5, "lr_step_size": 2, "lr_gamma": 0.81}
AUGMENT = {"auto_augment": "imagenet", "random_erase": 0.2}
EXTRA_REGULARISATION = {"label_smoothing": 0.1, "stochastic_depth_prob": 0.2, "lr_noise": (0.42, 0.9)}


@dataclass(frozen=True)
class RecipeRow:
    """One row of the article's table of recipe iterations."""

    name: str
    run: str  # the training run that produces it
    article_acc1: float  # TorchVision's ImageNet Acc@1 for this step of the recipe (blog post)
    article_acc5: float  # and its Acc@5
    use_average: bool = False  # report the average of the last 3 improving checkpoints


RUNS: dict[str, ClassificationConfig] = {
    "sgd_baseline": ClassificationConfig(**COMMON, **MOBILENET_V2_STYLE),
    "rmsprop_eps_1e-8": ClassificationConfig(**COMMON, opt_eps=1e-8, **(MOBILENET_V2_STYLE | {"opt": "rmsprop", "lr": 0.064 * LINEAR_SCALE})),
    # the adjusted eps and LR scheme, still with the baseline's weight decay: the article tunes it in the next row
    "rmsprop_eps_0.0316": ClassificationConfig(**COMMON, opt="rmsprop", opt_eps=0.0316, **(MOBILENET_V3_SCHEDULE | {"weight_decay": MOBILENET_V2_STYLE["weight_decay"]})),
    "rmsproptf_eps_1e-3": ClassificationConfig(**COMMON, opt="rmsproptf", opt_eps=1e-3, **MOBILENET_V3_SCHEDULE),
    "augment": ClassificationConfig(**COMMON, opt="rmsprop", opt_eps=0.0316, **MOBILENET_V3_SCHEDULE, **AUGMENT, average_last=3),
    "augment_regularised": ClassificationConfig(**COMMON, opt="rmsprop", opt_eps=0.0316, **MOBILENET_V3_SCHEDULE, **AUGMENT, **EXTRA_REGULARISATION),
}

RECIPE_ROWS = (
    RecipeRow("MobileNetV2-style baseline (SGD)", "sgd_baseline", 71.542, 90.068),
    RecipeRow("+ RMSProp, default eps (1e-8)", "rmsprop_eps_1e-8", 70.684, 89.38),
    RecipeRow("+ adjusted eps (0.0316) & LR scheme", "rmsprop_eps_0.0316", 71.764, 90.178),
    RecipeRow("+ AutoAugment, RandomErasing & tuned weight decay", "augment", 73.86, 91.292),
    RecipeRow("+ checkpoint averaging (last 3)", "augment", 74.028, 91.382, use_average=True),
    RecipeRow("+ label smoothing, stochastic depth, LR noise", "augment_regularised", 75.536, 92.368),
)
# Chapter 2 (b): the epsilon choice, like for like: the MobileNetV3 schedule and weight decay for all, only
# the optimizer and its epsilon differ; three seeds each (the seed sets the initial weights and the order)
EPS_STUDY = {
    "rmsprop_eps_1e-8": {"opt": "rmsprop", "opt_eps": 1e-8},
    "rmsprop_eps_0.0316": {"opt": "rmsprop", "opt_eps": 0.0316},
    "rmsproptf_eps_1e-3": {"opt": "rmsproptf", "opt_eps": 1e-3},
}
EPS_STUDY_SEEDS = (0, 1, 2)
EPS_STUDY_RUNS: dict[str, ClassificationConfig] = {
    f"eps_study/{name}/seed{seed}": ClassificationConfig(**COMMON, **MOBILENET_V3_SCHEDULE, **values, seed=seed)
    for name, values in EPS_STUDY.items()
    for seed in EPS_STUDY_SEEDS
}
OPTIMIZER_RUNS = tuple(f"eps_study/{name}/seed0" for name in EPS_STUDY)  # the curves Chapter 2 plots


def eps_study_summary(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per optimizer of :data:`EPS_STUDY`: the mean and standard deviation over the seeds of the
    final validation Acc@1 and training loss, and of the first epoch's training loss."""
    rows = []
    for name, values in EPS_STUDY.items():
        finals = [runs[f"eps_study/{name}/seed{seed}"]["final"] for seed in EPS_STUDY_SEEDS]
        firsts = [runs[f"eps_study/{name}/seed{seed}"]["history"][0] for seed in EPS_STUDY_SEEDS]
        row: dict[str, Any] = {"run": name, "optimizer": values["opt"], "eps": values["opt_eps"], "seeds": len(EPS_STUDY_SEEDS)}
        for label, numbers in (("val Acc@1", [f["val_acc1"] for f in finals]), ("final train loss", [f["train_loss"] for f in finals]),
                               ("epoch-1 train loss", [f["train_loss"] for f in firsts])):  # fmt: skip
            row[f"{label} mean"], row[f"{label} sd"] = float(np.mean(numbers)), float(np.std(numbers, ddof=1))
        rows.append(row)
    return rows


def book_splits(data: str = "shapes", train_size: int | None = None, val_size: int | None = None) -> tuple[Any, Any]:
    """The train and validation sets of the book's ``data``: ``"shapes"`` (:data:`BOOK_DATA`, Chapters 2
    and 3), ``"scenes"`` (:data:`BOOK_SCENES`, Chapter 4) or ``"semantic_scenes"``
    (:data:`BOOK_SEGMENTATION_SCENES`, Chapter 6); optionally fewer images, for quick demonstrations."""
    settings = {"shapes": BOOK_DATA, "scenes": BOOK_SCENES, "semantic_scenes": BOOK_SEGMENTATION_SCENES}
    if data not in settings:
        raise ValueError(f"unknown book data {data!r}: expected one of {', '.join(map(repr, settings))}")
    sizes = {**settings[data], "train_size": train_size or settings[data]["train_size"], "val_size": val_size or settings[data]["val_size"]}
    if data == "shapes":
        return shapes_splits(**sizes)
    return minicoco_splits(**sizes, semantic=data == "semantic_scenes")


def run_classification(output_dir: Path = ARTIFACTS, *, progress: bool = False, log: Callable[[str], None] = print, device: str | None = None,
                 reuse: bool = False) -> dict[str, Any]:  # fmt: skip
    """Train every run of :data:`RUNS` and :data:`EPS_STUDY_RUNS`, write the results JSON and the best
    recipe run's checkpoint.

    A run is a pure function of its config and the data, so two names with one config train once. With
    ``reuse``, a run whose config is unchanged in the existing results file is taken from it (marked
    ``"reused": true``) instead of trained again; the best run's checkpoint must then already be there.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    train, val = book_splits("shapes")
    previous = json.loads((output_dir / CLASSIFICATION_RESULTS).read_text())["runs"] if reuse and (output_dir / CLASSIFICATION_RESULTS).is_file() else {}
    runs: dict[str, Any] = {}
    models: dict[str, torch.nn.Module] = {}
    for name, config in {**RUNS, **EPS_STUDY_RUNS}.items():
        same = next((other for other, record in runs.items() if ClassificationConfig.from_dict(record["config"]) == config), None)
        stored = next((record for record in previous.values() if ClassificationConfig.from_dict(record["config"]) == config), None)
        if same is not None:
            runs[name] = runs[same]
            if same in models:
                models[name] = models[same]
            continue
        if stored is not None:
            log(f"== {name}: unchanged, taken from the results file")
            runs[name] = {**stored, "reused": True}
            continue
        log(f"== {name}")
        started = time.perf_counter()
        result = fit(config, train, val, progress=progress, log=log, device=device)
        runs[name] = {
            "config": config.to_dict(),
            "history": [dataclasses.asdict(e) for e in result.history],
            "final": dataclasses.asdict(result.history[-1]),
            "averaged": result.extras.get("averaged"),
            "diverged": result.diverged,
            "seconds": round(time.perf_counter() - started, 1),
            "threads": torch.get_num_threads(),
        }
        models[name] = result.model
    table = []
    for row in RECIPE_ROWS:
        run = runs[row.run]
        metrics = run["averaged"] if row.use_average else run["final"]
        acc1 = metrics["acc1"] if row.use_average else metrics["val_acc1"]
        acc5 = metrics["acc5"] if row.use_average else metrics["val_acc5"]
        table.append({"row": row.name, "run": row.run, "acc1": acc1, "acc5": acc5, "article_acc1": row.article_acc1, "article_acc5": row.article_acc5})
    finished = [name for name in RUNS if not runs[name]["diverged"]]
    best_run = max(finished, key=lambda name: runs[name]["final"]["val_acc1"]) if finished else None
    if best_run in models:
        save_half(models[best_run], RUNS[best_run], list(train.classes), output_dir / CLASSIFIER_FILE, run=best_run)
    elif best_run is not None:
        saved = load_checkpoint(output_dir / CLASSIFIER_FILE) if (output_dir / CLASSIFIER_FILE).is_file() else {}
        if saved.get("run") != best_run or ClassificationConfig.from_dict(saved["config"]) != RUNS[best_run]:
            raise RuntimeError(f"the best run, {best_run}, was reused, but {output_dir / CLASSIFIER_FILE} is not its checkpoint: run without reuse")
    command = "python -m mnv3lib.book classification" + (" --reuse" if reuse else "")
    return write_results(output_dir / CLASSIFICATION_RESULTS, BOOK_DATA, runs, command, recipe_table=table, checkpoint_run=best_run,
                         eps_study=eps_study_summary(runs))  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Chapter 3: quantizing the book's classifier
# --------------------------------------------------------------------------------------------------
# TorchVision's QAT recipe for MobileNetV3 fine-tunes 90 epochs (SGD, lr 0.001, momentum 0.9, wd 1e-5),
# updating the observers for the first 4 and BatchNorm statistics for the first 3. Ours has 4 epochs,
# so the ranges settle after 2 and BatchNorm freezes after 1.
QAT_SCHEDULE = {"epochs": 4, "observer_epochs": 2, "batch_norm_epochs": 1}


def _run_record(result: Any, started: float) -> dict[str, Any]:
    """A trained run's config, per-epoch history and last epoch, for the results file."""
    return {
        "config": result.config.to_dict(),
        "history": [dataclasses.asdict(e) for e in result.history],
        "final": dataclasses.asdict(result.history[-1]),
        "seconds_this_session": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------------------------------
# Chapter 4: the book's detector, trained on mini-COCO
# --------------------------------------------------------------------------------------------------
BOOK_SCENES = {"image_size": 256, "train_size": 1600, "val_size": 200, "seed": 0}
# A keypoint R-CNN predicts boxes for every class and keypoints for persons, so one model serves the
# chapter's box and keypoint sections, trained at 256 px. As TorchVision's detectors start from ImageNet
# weights, its backbone starts from a MobileNetV3-Large trained on the book's shapes (BOOK_BACKBONE):
# from scratch, 5 epochs reached a box AP of 0.001 at 128 px (the classifier head could not tell the
# shapes apart yet).
# At test time it keeps 300 RPN proposals (a scene has at most 5 objects; the 320 model keeps 150) and
# at most 50 detections per image, which also keeps the per-epoch evaluation affordable on a CPU.
BOOK_DETECTOR = DetectionConfig(
    model="keypointrcnn_mobilenet_v3_large_fpn", light_heads=True, min_size=256, max_size=256,
    epochs=12, batch_size=8, lr=0.02, lr_steps=(9, 11), warmup_iters=200,
    model_kwargs={"rpn_pre_nms_top_n_test": 300, "rpn_post_nms_top_n_test": 300, "box_detections_per_img": 50},
)  # fmt: skip
# The same, trained on the scenes resized to 128 px: the article's "train at low resolution" model
BOOK_DETECTOR_LOW_RES = dataclasses.replace(BOOK_DETECTOR, min_size=128, max_size=128)
# SSDlite against Faster R-CNN 320, on the same scenes from the same backbone, for the same 8 epochs
# (1,600 steps of 8 scenes), each with the shape of its TorchVision recipe, scaled to the book:
# SSDlite: SGD with a cosine decay, weight decay 4e-5 and SSD's crop/expand augmentation
#   (TorchVision: 660 epochs from scratch, lr 0.15 for 192 images per step, its "ssdlite" preset: the crop
#   without the expand);
# Faster R-CNN 320: SGD with a step decay and weight decay 1e-4, as the keypoint model above
#   (TorchVision: 26 epochs from ImageNet weights, lr 0.02 for 16 images per step, steps at 16 and 22).
# Both keep at most 50 detections per image, as BOOK_DETECTOR; the 320 model keeps its test-time RPN
# settings (150 proposals, score threshold 0.05).
BOOK_SSDLITE = DetectionConfig(
    model="ssdlite320_mobilenet_v3_large", epochs=8, batch_size=8, lr=0.02, weight_decay=4e-5, lr_scheduler="cosineannealinglr",
    warmup_iters=200, data_augmentation="ssd", model_kwargs={"detections_per_img": 50},
)  # fmt: skip
BOOK_FASTERRCNN_320 = DetectionConfig(
    model="fasterrcnn_mobilenet_v3_large_320_fpn", light_heads=True, min_size=320, max_size=640, epochs=8, batch_size=8, lr=0.02,
    lr_steps=(6, 7), warmup_iters=200, model_kwargs={"box_detections_per_img": 50},
)  # fmt: skip
BOOK_DETECTORS = {"main": BOOK_DETECTOR, "low_res": BOOK_DETECTOR_LOW_RES, "ssdlite": BOOK_SSDLITE, "fasterrcnn_320": BOOK_FASTERRCNN_320}


# The detectors' backbone: MobileNetV3-Large trained on Chapter 2's shapes with Chapter 2's best recipe,
# shortened to 12 epochs (decaying to ~15% of the initial rate).
BOOK_BACKBONE = dataclasses.replace(RUNS["rmsproptf_eps_1e-3"], model="mobilenet_v3_large", epochs=12, lr_gamma=0.73)


def run_detection(
    output_dir: Path = ARTIFACTS, work_dir: Path = Path("runs/book-detection"), *, progress: bool = False, log: Callable[[str], None] = print,
    device: str | None = None, only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train the :data:`BOOK_DETECTORS` (each resuming from its folder under ``work_dir`` if a checkpoint is
    there), then write the results JSON and each model's float16 weights into ``output_dir``.

    ``only`` names a subset (e.g. ``["ssdlite", "fasterrcnn_320"]``): those train, and the other runs'
    records are kept from the existing results file.
    """
    names = list(BOOK_DETECTORS) if only is None else list(only)
    unknown = [name for name in names if name not in BOOK_DETECTORS]
    if unknown or not names:
        raise ValueError(f"unknown Chapter 4 runs {unknown or names}: expected some of {', '.join(BOOK_DETECTORS)}")
    results_file = output_dir / DETECTION_RESULTS
    runs: dict[str, Any] = {}
    output_dir.mkdir(parents=True, exist_ok=True)
    backbone, backbone_record = _pretrain_backbone(work_dir / "backbone", progress=progress, log=log, device=device)
    for name in names:
        book_config = BOOK_DETECTORS[name]
        log(f"== {name}")
        config = dataclasses.replace(book_config, backbone_weights=str(backbone))
        train, val = book_splits("scenes")
        run_dir = work_dir if name == "main" else work_dir / name
        checkpoint = run_dir / "checkpoint.pt"
        started = time.perf_counter()
        resume = checkpoint if checkpoint.is_file() else None
        result = fit(config, train, val, output_dir=run_dir, resume=resume, eval_every=4, progress=progress, log=log, device=device)
        runs[name] = _run_record(result, started) | {"num_params": count_parameters(result.model)}
        save_half(result.model, config, list(MINICOCO_CLASSES), output_dir / DETECTOR_FILES[name])
    runs["backbone"] = backbone_record
    command, made_on = "python -m mnv3lib.book detection", None
    if only is not None:  # a sub-run: its runs say how they were made; the file keeps the full command and the others' records
        for name in names:
            runs[name] |= {"command": f"{command} --runs {' '.join(names)}", "machine": machine()}
        if results_file.is_file():  # read now, not at the start: another sub-run may have written it since
            previous = json.loads(results_file.read_text())
            runs = {name: record for name, record in previous["runs"].items() if name not in runs} | runs
            made_on = previous.get("machine")
    return write_results(results_file, BOOK_SCENES, {name: runs[name] for name in [*BOOK_DETECTORS, "backbone"] if name in runs}, command,
                         made_on=made_on)  # fmt: skip


def _pretrain_backbone(work_dir: Path, *, progress: bool, log: Callable[[str], None], device: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Train (or resume, or reuse) :data:`BOOK_BACKBONE` on the book's shapes; return its weights' path and record."""
    log("== backbone")
    checkpoint = work_dir / "checkpoint.pt"
    started = time.perf_counter()
    train, val = book_splits("shapes")
    result = fit(BOOK_BACKBONE, train, val, output_dir=work_dir, resume=checkpoint if checkpoint.is_file() else None, progress=progress, log=log,
                 device=device)
    weights = save_checkpoint({"model": result.model.state_dict(), "config": BOOK_BACKBONE.to_dict()}, work_dir / "backbone.pt")
    return weights, _run_record(result, started)


# --------------------------------------------------------------------------------------------------
# Chapter 6: the book's segmentation models, trained on mini-COCO's semantic masks
# --------------------------------------------------------------------------------------------------
# Mini-COCO drawn at 128 px: our "520". The article's low-resolution inference at 320 (0.615 × 520)
# becomes 80 px here. Each model trains for 5 epochs (1,000 steps of 8 scenes), its backbone starting
# from Chapter 4's shapes-trained MobileNetV3-Large (as TorchVision's start from ImageNet weights):
# from scratch, LR-ASPP reached 22.6 mIoU after 4 epochs.
BOOK_SEGMENTATION_SCENES = {"image_size": 128, "train_size": 1600, "val_size": 200, "seed": 0}
LOW_RES_SEGMENTATION_SIZE = 80
_SEGMENTATION = SegmentationConfig(model="lraspp_mobilenet_v3_large", image_size=128, epochs=5, batch_size=8, lr=0.02)
BOOK_SEGMENTERS = {
    "lraspp": _SEGMENTATION,
    "lraspp_undilated": dataclasses.replace(_SEGMENTATION, dilated=False),
    "deeplabv3": dataclasses.replace(_SEGMENTATION, model="deeplabv3_mobilenet_v3_large", aux_loss=True),
    "fcn": dataclasses.replace(_SEGMENTATION, model="fcn_mobilenet_v3_large", aux_loss=True),
}


def run_segmentation(
    output_dir: Path = ARTIFACTS,
    work_dir: Path = Path("runs/book-segmentation"),
    backbone_dir: Path = Path("runs/book-detection/backbone"),
    *,
    progress: bool = False,
    log: Callable[[str], None] = print,
    device: str | None = None,
) -> dict[str, Any]:
    """Train the :data:`BOOK_SEGMENTERS` (each resuming from ``work_dir/<name>`` if a checkpoint is there)
    from the shapes-trained backbone (``backbone_dir``, shared with Chapter 4; trained first if missing),
    then write the results JSON and the LR-ASPP models' float16 weights into ``output_dir``."""
    runs: dict[str, Any] = {}
    output_dir.mkdir(parents=True, exist_ok=True)
    backbone, _ = _pretrain_backbone(backbone_dir, progress=progress, log=log, device=device)
    train, val = book_splits("semantic_scenes")
    for name, book_config in BOOK_SEGMENTERS.items():
        log(f"== {name}")
        config = dataclasses.replace(book_config, backbone_weights=str(backbone))
        run_dir = work_dir / name
        checkpoint = run_dir / "checkpoint.pt"
        started = time.perf_counter()
        resume = checkpoint if checkpoint.is_file() else None
        result = fit(config, train, val, output_dir=run_dir, resume=resume, eval_every=2, progress=progress, log=log,
                     device=device)
        runs[name] = _run_record(result, started) | {"num_params": count_parameters(result.model)}
        # the article's low-resolution inference: the same weights, fed smaller images (Chapter 6's table)
        _, val_transformed = SegmentationTask(config).datasets(train, val)  # the transforms training evaluated with
        low = evaluate_segmentation(result.model, val_transformed, image_size=LOW_RES_SEGMENTATION_SIZE)
        runs[name]["low_res"] = {"image_size": LOW_RES_SEGMENTATION_SIZE, "miou": low["miou"], "pixel_accuracy": low["pixel_accuracy"]}
        if name in SEGMENTER_FILES:
            save_half(result.model, config, ["background", *MINICOCO_CLASSES], output_dir / SEGMENTER_FILES[name])
    return write_results(output_dir / SEGMENTATION_RESULTS, BOOK_SEGMENTATION_SCENES, runs, "python -m mnv3lib.book segmentation")


