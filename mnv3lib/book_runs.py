"""The book's longer training runs: definitions, and the command that re-creates their saved results.

Chapter 2 cannot train six models in its five-minute budget on a laptop CPU, so these runs live here.
``python -m mnv3lib.train book-chapter2`` trains them (about half an hour on 2 CPU cores) and writes

* ``artifacts/chapter2_results.json``: every run's config and per-epoch history, and the recipe table;
* ``artifacts/shapes_mobilenet_v3_small.pt``: the best run's weights (float16, ~3 MB), which Chapter 2
  re-evaluates live and Chapter 3 (quantization) starts from.

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
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import quantization
from .checkpoint import as_float16, as_float32, load_checkpoint, save_checkpoint
from .data.shapes import ShapesDataset
from .quantization_error import prediction_agreement
from .data.minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS, MiniCocoScenes
from .data.minicoco import SemanticScenes
from .detection_training import DetectionConfig, build_detector, fit_detection
from .segmentation_training import SegmentationConfig, build_segmenter, fit_segmentation
from .training import ClassificationConfig, build_model, evaluate, fit

__all__ = [
    "BOOK_DATA",
    "BOOK_EPOCHS",
    "RecipeRow",
    "RECIPE_ROWS",
    "OPTIMIZER_RUNS",
    "book_datasets",
    "run_chapter2",
    "load_chapter2_results",
    "load_book_classifier",
    "ARTIFACTS",
    "QAT_SCHEDULE",
    "qat_finetune_config",
    "load_book_quantizable_classifier",
    "ptq_experiment",
    "BOOK_SCENES",
    "BOOK_DETECTOR",
    "BOOK_DETECTOR_LOW_RES",
    "BOOK_DETECTORS",
    "book_scenes",
    "run_chapter4",
    "load_book_detector",
    "load_chapter4_results",
    "BOOK_SEGMENTATION_SCENES",
    "BOOK_SEGMENTERS",
    "LOW_RES_SEGMENTATION_SIZE",
    "book_semantic_scenes",
    "run_chapter5",
    "load_chapter5_results",
    "load_book_segmenter",
]

ARTIFACTS = Path(__file__).parent / "artifacts"
RESULTS_FILE = "chapter2_results.json"
CHECKPOINT_FILE = "shapes_mobilenet_v3_small.pt"

# The book's classification data: 10 classes, 64×64 images, up to two distractor shapes each.
BOOK_DATA = {"image_size": 64, "num_distractors": (0, 2), "train_size": 4_000, "val_size": 2_000, "seed": 0}
BOOK_EPOCHS = 30
BATCH_SIZE = 64
LINEAR_SCALE = BATCH_SIZE / 1024  # the recipe's global batch is 8 GPUs × 128

COMMON = {
    "model": "mobilenet_v3_small", "epochs": BOOK_EPOCHS, "batch_size": BATCH_SIZE, "bn_momentum": 0.1,
    "train_crop_size": 56, "val_resize_size": 64, "val_crop_size": 56, "train_min_scale": 0.35,
}  # fmt: skip
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
    use_average: bool = False  # report the average of the last 3 improving checkpoints


RUNS: dict[str, ClassificationConfig] = {
    "sgd_baseline": ClassificationConfig(**COMMON, **MOBILENET_V2_STYLE),
    "rmsprop_eps_1e-8": ClassificationConfig(**COMMON, opt_eps=1e-8, **(MOBILENET_V2_STYLE | {"opt": "rmsprop", "lr": 0.064 * LINEAR_SCALE})),
    "rmsprop_eps_0.0316": ClassificationConfig(**COMMON, opt="rmsprop", opt_eps=0.0316, **MOBILENET_V3_SCHEDULE),
    "rmsproptf_eps_1e-3": ClassificationConfig(**COMMON, opt="rmsproptf", opt_eps=1e-3, **MOBILENET_V3_SCHEDULE),
    "augment": ClassificationConfig(**COMMON, opt="rmsprop", opt_eps=0.0316, **MOBILENET_V3_SCHEDULE, **AUGMENT, average_last=3),
    "augment_regularised": ClassificationConfig(**COMMON, opt="rmsprop", opt_eps=0.0316, **MOBILENET_V3_SCHEDULE, **AUGMENT, **EXTRA_REGULARISATION),
}

RECIPE_ROWS = (
    RecipeRow("MobileNetV2-style baseline (SGD)", "sgd_baseline", 71.542),
    RecipeRow("+ RMSProp, default eps (1e-8)", "rmsprop_eps_1e-8", 70.684),
    RecipeRow("+ adjusted eps (0.0316) & LR scheme", "rmsprop_eps_0.0316", 71.764),
    RecipeRow("+ AutoAugment & RandomErasing", "augment", 73.86),
    RecipeRow("+ checkpoint averaging (last 3)", "augment", 74.028, use_average=True),
    RecipeRow("+ label smoothing, stochastic depth, LR noise", "augment_regularised", 75.536),
)
# Chapter 2 (b): the epsilon story, same data and schedule, three optimizers
OPTIMIZER_RUNS = ("rmsprop_eps_1e-8", "rmsprop_eps_0.0316", "rmsproptf_eps_1e-3")


def book_datasets(train_size: int | None = None, val_size: int | None = None) -> tuple[ShapesDataset, ShapesDataset]:
    """The book's train and validation splits (optionally smaller, for quick demonstrations)."""
    common = {"image_size": BOOK_DATA["image_size"], "num_distractors": BOOK_DATA["num_distractors"], "seed": BOOK_DATA["seed"]}
    train = ShapesDataset("train", size=train_size or BOOK_DATA["train_size"], **common)
    val = ShapesDataset("val", size=val_size or BOOK_DATA["val_size"], **common)
    return train, val


def run_chapter2(output_dir: Path = ARTIFACTS, *, progress: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every run of :data:`RUNS`, write the results JSON and the best model's checkpoint."""
    output_dir.mkdir(parents=True, exist_ok=True)
    train, val = book_datasets()
    runs: dict[str, Any] = {}
    best: tuple[float, str, dict[str, torch.Tensor]] | None = None
    for name, config in RUNS.items():
        log(f"== {name}")
        started = time.perf_counter()
        result = fit(config, train, val, progress=progress, log=log)
        runs[name] = {
            "config": config.to_dict(),
            "history": [dataclasses.asdict(e) for e in result.history],
            "final": dataclasses.asdict(result.history[-1]),
            "averaged": result.averaged,
            "diverged": result.diverged,
            "seconds": round(time.perf_counter() - started, 1),
        }
        final_acc1 = result.history[-1].val_acc1
        if not result.diverged and (best is None or final_acc1 > best[0]):
            best = (final_acc1, name, result.model.state_dict())
    table = []
    for row in RECIPE_ROWS:
        run = runs[row.run]
        metrics = run["averaged"] if row.use_average else run["final"]
        acc1 = metrics["acc1"] if row.use_average else metrics["val_acc1"]
        acc5 = metrics["acc5"] if row.use_average else metrics["val_acc5"]
        table.append({"row": row.name, "run": row.run, "acc1": acc1, "acc5": acc5, "article_acc1": row.article_acc1})
    results = {
        "data": BOOK_DATA,
        "runs": runs,
        "recipe_table": table,
        "checkpoint_run": best[1] if best else None,
        "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine()},
        "command": "python -m mnv3lib.train book-chapter2",
    }
    (output_dir / RESULTS_FILE).write_text(json.dumps(results, indent=1))
    if best is not None:
        half = as_float16(best[2])
        config = RUNS[best[1]]
        save_checkpoint({"model": half, "config": config.to_dict(), "classes": list(train.classes), "run": best[1]}, output_dir / CHECKPOINT_FILE)
    return results


def _load_results(path: Path, command: str) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no saved results at {path}: run `{command}` first")
    return json.loads(path.read_text())


def load_chapter2_results(path: Path | None = None) -> dict[str, Any]:
    """The saved results of :func:`run_chapter2`."""
    return _load_results(path or ARTIFACTS / RESULTS_FILE, "python -m mnv3lib.train book-chapter2")


def load_book_classifier(path: Path | None = None) -> tuple[torch.nn.Module, ClassificationConfig, list[str]]:
    """The book's trained MobileNetV3-Small (float32, eval mode), its config and class names."""
    return _load_saved_model(path or ARTIFACTS / CHECKPOINT_FILE, ClassificationConfig, lambda config, classes: build_model(config, len(classes)))


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


# --------------------------------------------------------------------------------------------------
# Chapter 3: quantizing the book's classifier
# --------------------------------------------------------------------------------------------------
# TorchVision's QAT recipe for MobileNetV3 fine-tunes 90 epochs (SGD, lr 0.001, momentum 0.9, wd 1e-5),
# updating the observers for the first 4 and BatchNorm statistics for the first 3. Ours has 4 epochs,
# so the ranges settle after 2 and BatchNorm freezes after 1.
QAT_SCHEDULE = {"epochs": 4, "observer_epochs": 2, "batch_norm_epochs": 1}


def qat_finetune_config(config: ClassificationConfig) -> ClassificationConfig:
    """The fine-tuning run of QAT (and of its float control) on the book's data: TorchVision's QAT optimiser
    settings at a constant learning rate, with ``config``'s data and model settings."""
    return dataclasses.replace(
        config, epochs=QAT_SCHEDULE["epochs"], opt="sgd", opt_eps=None, lr=0.001, momentum=0.9, weight_decay=1e-5,
        lr_scheduler="constant", lr_noise=None, average_last=0, model_ema=False,
    )  # fmt: skip


def load_book_quantizable_classifier(path: Path | None = None) -> tuple[quantization.QuantizableMobileNetV3, ClassificationConfig, list[str]]:
    """The book's trained classifier as a float :class:`~mnv3lib.quantization.QuantizableMobileNetV3` (eval mode).

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


def ptq_experiment(
    float_model: quantization.QuantizableMobileNetV3,
    calibration_batches: list,
    val_batches: list,
    observer: str = "histogram",
    batches: int = 8,
    *,
    weight: str = "per_channel",
    backend: str = "x86",
    reduce_range: bool | None = None,
) -> dict[str, float]:
    """Quantize ``float_model`` with ``batches`` calibration batches and ``observer``; return its validation
    ``acc1``, ``acc5`` and top-1 ``agreement`` (%) with the float model."""
    if not 1 <= batches <= len(calibration_batches):
        raise ValueError(f"expected 1 <= batches <= {len(calibration_batches)} (the calibration batches given), got {batches!r}")
    qconfig = quantization.ptq_qconfig(observer, weight, backend=backend, reduce_range=reduce_range)
    int8_model = quantization.quantize_ptq(float_model, calibration_batches[:batches], backend, qconfig)
    metrics = evaluate(int8_model, val_batches)
    return {"acc1": metrics["acc1"], "acc5": metrics["acc5"], "agreement": prediction_agreement(float_model, int8_model, val_batches)}


def _run_record(result: Any, started: float) -> dict[str, Any]:
    """A trained run's config, per-epoch history and last epoch, for the results file."""
    return {
        "config": result.config.to_dict(),
        "history": [dataclasses.asdict(e) for e in result.history],
        "final": dataclasses.asdict(result.history[-1]),
        "seconds_this_session": round(time.perf_counter() - started, 1),
    }


def _save_half(model: torch.nn.Module, config: Any, classes: list[str], path: Path) -> None:
    """Save ``model``'s weights in float16 with its config and class names (the chapters load them as float32)."""
    save_checkpoint({"model": as_float16(model.state_dict()), "config": config.to_dict(), "classes": classes}, path)


def _write_results(path: Path, data: dict[str, Any], runs: dict[str, Any], command: str) -> dict[str, Any]:
    results = {
        "data": data,
        "runs": runs,
        "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine()},
        "command": command,
    }
    path.write_text(json.dumps(results, indent=1))
    return results


# --------------------------------------------------------------------------------------------------
# Chapter 4: the book's detector, trained on mini-COCO
# --------------------------------------------------------------------------------------------------
DETECTOR_RESULTS_FILE = "chapter4_results.json"
DETECTOR_FILES = {"main": "minicoco_keypointrcnn_mobilenet_v3_large_fpn.pt", "low_res": "minicoco_keypointrcnn_mobilenet_v3_large_fpn_128.pt"}
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
BOOK_DETECTORS = {"main": BOOK_DETECTOR, "low_res": BOOK_DETECTOR_LOW_RES}


# The detectors' backbone: MobileNetV3-Large trained on Chapter 2's shapes with Chapter 2's best recipe,
# shortened to 12 epochs (decaying to ~15% of the initial rate).
BOOK_BACKBONE = dataclasses.replace(RUNS["rmsproptf_eps_1e-3"], model="mobilenet_v3_large", epochs=12, lr_gamma=0.73)


def book_scenes(train_size: int | None = None, val_size: int | None = None) -> tuple[MiniCocoScenes, MiniCocoScenes]:
    """The book's mini-COCO train and validation scenes (optionally fewer)."""
    common = {"image_size": BOOK_SCENES["image_size"], "seed": BOOK_SCENES["seed"]}
    train = MiniCocoScenes("train", size=train_size or BOOK_SCENES["train_size"], **common)
    val = MiniCocoScenes("val", size=val_size or BOOK_SCENES["val_size"], **common)
    return train, val


def run_chapter4(
    output_dir: Path = ARTIFACTS, work_dir: Path = Path("runs/book-chapter4"), *, progress: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train the :data:`BOOK_DETECTORS` (each resuming from its folder under ``work_dir`` if a checkpoint is
    there), then write the results JSON and each model's float16 weights into ``output_dir``."""
    runs: dict[str, Any] = {}
    output_dir.mkdir(parents=True, exist_ok=True)
    backbone, backbone_record = _pretrain_backbone(work_dir / "backbone", progress=progress, log=log)
    for name, book_config in BOOK_DETECTORS.items():
        log(f"== {name}")
        config = dataclasses.replace(book_config, backbone_weights=str(backbone))
        train, val = book_scenes()
        run_dir = work_dir if name == "main" else work_dir / name
        checkpoint = run_dir / "checkpoint.pt"
        started = time.perf_counter()
        resume = checkpoint if checkpoint.is_file() else None
        result = fit_detection(config, train, val, output_dir=run_dir, resume=resume, eval_every=4, progress=progress, log=log)
        runs[name] = _run_record(result, started)
        _save_half(result.model, config, list(MINICOCO_CLASSES), output_dir / DETECTOR_FILES[name])
    runs["backbone"] = backbone_record
    return _write_results(output_dir / DETECTOR_RESULTS_FILE, BOOK_SCENES, runs, "python -m mnv3lib.train book-chapter4")


def _pretrain_backbone(work_dir: Path, *, progress: bool, log: Callable[[str], None]) -> tuple[Path, dict[str, Any]]:
    """Train (or resume, or reuse) :data:`BOOK_BACKBONE` on the book's shapes; return its weights' path and record."""
    log("== backbone")
    checkpoint = work_dir / "checkpoint.pt"
    started = time.perf_counter()
    train, val = book_datasets()
    result = fit(BOOK_BACKBONE, train, val, output_dir=work_dir, resume=checkpoint if checkpoint.is_file() else None, progress=progress, log=log)
    weights = save_checkpoint({"model": result.model.state_dict(), "config": BOOK_BACKBONE.to_dict()}, work_dir / "backbone.pt")
    return weights, _run_record(result, started)


def load_chapter4_results(path: Path | None = None) -> dict[str, Any]:
    """The saved results of :func:`run_chapter4`."""
    return _load_results(path or ARTIFACTS / DETECTOR_RESULTS_FILE, "python -m mnv3lib.train book-chapter4")


def load_book_detector(name: str = "main", path: Path | None = None) -> tuple[torch.nn.Module, DetectionConfig]:
    """A trained mini-COCO detector of :data:`BOOK_DETECTORS` (float32, eval mode) and its config."""
    shipped = _book_file(DETECTOR_FILES, name, "detector")
    model, config, _ = _load_saved_model(
        path or shipped, DetectionConfig, lambda config, classes: build_detector(config, len(classes) + 1, len(PERSON_KEYPOINTS))
    )
    return model, config


# --------------------------------------------------------------------------------------------------
# Chapter 5: the book's segmentation models, trained on mini-COCO's semantic masks
# --------------------------------------------------------------------------------------------------
SEGMENTATION_RESULTS_FILE = "chapter5_results.json"
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
# Only the LR-ASPP weights ship with the book (float16, ~6 MB each); DeepLabV3 and FCN are reported
# from the results file, which the command writes after training them.
SEGMENTER_FILES = {"lraspp": "minicoco_lraspp_mobilenet_v3_large.pt", "lraspp_undilated": "minicoco_lraspp_mobilenet_v3_large_undilated.pt"}


def book_semantic_scenes(train_size: int | None = None, val_size: int | None = None) -> tuple[SemanticScenes, SemanticScenes]:
    """The book's mini-COCO scenes for segmentation (``BOOK_SEGMENTATION_SCENES``), as semantic masks."""
    common = {"image_size": BOOK_SEGMENTATION_SCENES["image_size"], "seed": BOOK_SEGMENTATION_SCENES["seed"]}
    train = MiniCocoScenes("train", size=train_size or BOOK_SEGMENTATION_SCENES["train_size"], **common)
    val = MiniCocoScenes("val", size=val_size or BOOK_SEGMENTATION_SCENES["val_size"], **common)
    return SemanticScenes(train), SemanticScenes(val)


def run_chapter5(
    output_dir: Path = ARTIFACTS,
    work_dir: Path = Path("runs/book-chapter5"),
    backbone_dir: Path = Path("runs/book-chapter4/backbone"),
    *,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the :data:`BOOK_SEGMENTERS` (each resuming from ``work_dir/<name>`` if a checkpoint is there)
    from the shapes-trained backbone (``backbone_dir``, shared with Chapter 4; trained first if missing),
    then write the results JSON and the LR-ASPP models' float16 weights into ``output_dir``."""
    runs: dict[str, Any] = {}
    output_dir.mkdir(parents=True, exist_ok=True)
    num_classes = len(MINICOCO_CLASSES) + 1
    backbone, _ = _pretrain_backbone(backbone_dir, progress=progress, log=log)
    for name, book_config in BOOK_SEGMENTERS.items():
        log(f"== {name}")
        config = dataclasses.replace(book_config, backbone_weights=str(backbone))
        run_dir = work_dir / name
        checkpoint = run_dir / "checkpoint.pt"
        started = time.perf_counter()
        resume = checkpoint if checkpoint.is_file() else None
        result = fit_segmentation(config, *book_semantic_scenes(), num_classes, output_dir=run_dir, resume=resume, eval_every=2, progress=progress, log=log)
        runs[name] = _run_record(result, started) | {"num_params": sum(p.numel() for p in result.model.parameters())}
        if name in SEGMENTER_FILES:
            _save_half(result.model, config, ["background", *MINICOCO_CLASSES], output_dir / SEGMENTER_FILES[name])
    return _write_results(output_dir / SEGMENTATION_RESULTS_FILE, BOOK_SEGMENTATION_SCENES, runs, "python -m mnv3lib.train book-chapter5")


def load_chapter5_results(path: Path | None = None) -> dict[str, Any]:
    """The saved results of :func:`run_chapter5`."""
    return _load_results(path or ARTIFACTS / SEGMENTATION_RESULTS_FILE, "python -m mnv3lib.train book-chapter5")


def load_book_segmenter(name: str = "lraspp", path: Path | None = None) -> tuple[torch.nn.Module, SegmentationConfig]:
    """A trained mini-COCO segmentation model of :data:`SEGMENTER_FILES` (float32, eval mode) and its config."""
    shipped = _book_file(SEGMENTER_FILES, name, "segmentation model")
    model, config, _ = _load_saved_model(path or shipped, SegmentationConfig, lambda config, classes: build_segmenter(config, len(classes)))
    return model, config
