"""Command-line training, with the flags of TorchVision's ``references/classification/train.py``.

``python -m mnv3lib.train`` and ``python -m mnv3lib.cli`` run it. TorchVision's MobileNetV3 recipe, on an
ImageNet-style folder::

    python -m mnv3lib.train classification --data-path /data/imagenet --model mobilenet_v3_large \\
        --opt rmsprop --lr 0.064 --wd 1e-5 --lr-step-size 2 --lr-gamma 0.973 \\
        --auto-augment imagenet --random-erase 0.2 --epochs 600 --batch-size 128 --output-dir runs/large

Add ``--resume runs/large/checkpoint.pt`` to continue an interrupted run. ``--dataset shapes`` trains on
the book's procedural data instead of ``--data-path``. (``python -m mnv3lib.book classification`` re-creates the
results and the checkpoint that Chapter 2 loads; ``detection`` and ``segmentation`` likewise.)

Detection, with the flags of TorchVision's ``references/detection/train.py``, on a COCO folder (or, without
``--data-path``, the book's mini-COCO)::

    python -m mnv3lib.train detection --data-path /data/coco --model fasterrcnn_mobilenet_v3_large_fpn \\
        --no-light-heads --min-size 800 --max-size 1333 --epochs 26 --lr-steps 16 22 -b 16 --output-dir runs/frcnn

SSDlite320, with TorchVision's recipe (per process: 8 processes × 24 images)::

    torchrun --nproc_per_node=8 -m mnv3lib.train detection --data-path /data/coco --model ssdlite320_mobilenet_v3_large \\
        --epochs 660 --lr-scheduler cosineannealinglr --lr 0.15 -b 24 --wd 0.00004 --data-augmentation ssdlite \\
        --output-dir runs/ssdlite

Segmentation, with the flags of TorchVision's ``references/segmentation/train.py``, on Pascal VOC (or, by
default, the book's mini-COCO scenes)::

    python -m mnv3lib.train segmentation --dataset voc --data-path /data/voc --model lraspp_mobilenet_v3_large \\
        --image-size 520 --epochs 30 -b 4 --lr 0.01 --wd 1e-6 --output-dir runs/lraspp

Every command trains on ``--device`` (default: CUDA if present, else the CPU), with ``--amp`` for mixed
precision, and under torchrun with DistributedDataParallel (add ``--sync-bn``); these flags make the
run's :class:`~mnv3lib.engine.runtime.Runtime`::

    torchrun --standalone --nproc_per_node=8 -m mnv3lib.train classification ... --amp --sync-bn

``-b`` is the batch of each process, as in TorchVision's scripts: the global batch is ``-b`` × processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .engine import distributed
from .engine.checkpoint import CheckpointWriteError, save_checkpoint
from .engine.segmentation import MODELS as SEGMENTATION_MODELS
from .engine.segmentation import SegmentationConfig
from .data.voc import voc_splits
from .data.folders import image_folder_splits
from .data.splits import SHAPES_CROP_SIZES, minicoco_splits, shapes_splits
from .data.coco import CocoFolder
from .data.transforms import AUGMENTATIONS
from .engine.detection import LR_SCHEDULERS
from .engine.detection import MODELS as DETECTION_MODELS
from .engine.detection import DetectionConfig
from .engine import Runtime, fit
from .engine.classification import ClassificationConfig

__all__ = ["main", "classification_parser", "positive_int"]


def positive_int(text: str) -> int:
    """argparse type: an int >= 1 (argparse names the flag in its error)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


def _add_run_and_output_arguments(parser: argparse.ArgumentParser, run: argparse._ArgumentGroup, defaults: ClassificationConfig | DetectionConfig | SegmentationConfig) -> None:
    """The flags every training command shares: seed, workers, devices and precision, output folder,
    resume and progress bars."""
    run.add_argument("--seed", type=int, default=defaults.seed)
    run.add_argument("-j", "--workers", type=int, default=defaults.workers)
    hardware = parser.add_argument_group("devices, precision and processes")
    hardware.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if present, else cpu; under torchrun, cuda is each process's GPU)")
    hardware.add_argument("--amp", action="store_true", help="mixed precision: float16 with a gradient scaler on CUDA, bfloat16 on the CPU")
    hardware.add_argument("--channels-last", action="store_true", help="channels-last memory layout (classification and segmentation)")
    hardware.add_argument("--compile", action="store_true", help="train through torch.compile (classification and segmentation)")
    hardware.add_argument("--sync-bn", action="store_true", help="under torchrun: BatchNorm statistics over all processes' batches")
    hardware.add_argument("--log-every", type=positive_int, default=Runtime.log_every,
                          help="steps between reads of the running loss from the device (a non-finite loss is seen at most this many steps - 1 late)")  # fmt: skip
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", required=True)
    output.add_argument("--resume", default=None, help="checkpoint.pt to continue from")
    output.add_argument("--overwrite", action="store_true", help="replace a run already in --output-dir (without it, such a folder is refused)")
    output.add_argument("--progress", action="store_true", help="show progress bars")
    output.add_argument("--stop-after-epoch", type=positive_int, default=None, help="return after this many epochs (e.g. to fit a job's time limit); --resume continues")


def _add_classification_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data-path", help="ImageNet-style folder with train/<class>/ and val/<class>/")
    data.add_argument("--dataset", choices=("imagefolder", "shapes"), default="imagefolder", help="'shapes': the book's procedural data")
    data.add_argument("--shapes-train-size", type=positive_int, default=4000, help="training images of --dataset shapes")
    data.add_argument("--shapes-val-size", type=positive_int, default=2000, help="validation images of --dataset shapes")
    defaults = ClassificationConfig()
    run = parser.add_argument_group("training (TorchVision's flag names)")
    run.add_argument("--model", default=defaults.model, choices=("mobilenet_v3_large", "mobilenet_v3_small"))
    run.add_argument("--width-mult", type=float, default=defaults.width_mult)
    run.add_argument("--dropout", type=float, default=defaults.dropout)
    run.add_argument("--stochastic-depth-prob", type=float, default=defaults.stochastic_depth_prob)
    run.add_argument("--bn-momentum", type=float, default=defaults.bn_momentum, help="torchvision: 0.01; the book's short runs: 0.1")
    run.add_argument("--epochs", type=int, default=defaults.epochs)
    run.add_argument("-b", "--batch-size", type=int, default=defaults.batch_size)
    run.add_argument("--opt", default=defaults.opt, choices=("sgd", "rmsprop", "rmsproptf"))
    run.add_argument("--lr", type=float, default=defaults.lr)
    run.add_argument("--momentum", type=float, default=defaults.momentum)
    run.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, default=defaults.weight_decay)
    run.add_argument("--opt-eps", type=float, default=None, help="default: 0.0316 for rmsprop (torchvision), 1e-3 for rmsproptf")
    run.add_argument("--opt-alpha", type=float, default=defaults.opt_alpha)
    run.add_argument("--lr-scheduler", default=defaults.lr_scheduler, choices=("steplr", "cosineannealinglr", "constant"))
    run.add_argument("--lr-step-size", type=int, default=defaults.lr_step_size)
    run.add_argument("--lr-gamma", type=float, default=defaults.lr_gamma)
    run.add_argument("--lr-warmup-epochs", type=int, default=defaults.lr_warmup_epochs)
    run.add_argument("--lr-warmup-decay", type=float, default=defaults.lr_warmup_decay)
    run.add_argument("--lr-noise", type=float, nargs=2, default=None, metavar=("START", "END"), help="fractions of training, e.g. 0.42 0.9")
    run.add_argument("--lr-noise-pct", type=float, default=defaults.lr_noise_pct)
    run.add_argument("--lr-noise-std", type=float, default=defaults.lr_noise_std)
    run.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    run.add_argument("--auto-augment", default=None, help="e.g. imagenet, ra, ta_wide")
    run.add_argument("--random-erase", type=float, default=defaults.random_erase)
    run.add_argument("--train-crop-size", type=int, default=None, help="default 224 (ImageNet) or 56 (shapes)")
    run.add_argument("--val-resize-size", type=int, default=None, help="default 256 (ImageNet) or 64 (shapes)")
    run.add_argument("--val-crop-size", type=int, default=None, help="default 224 (ImageNet) or 56 (shapes)")
    run.add_argument("--train-min-scale", type=float, default=None, help="RandomResizedCrop's smallest area: 0.08 (ImageNet) or 0.35 (shapes)")
    run.add_argument("--model-ema", action="store_true")
    run.add_argument("--model-ema-steps", type=int, default=defaults.model_ema_steps)
    run.add_argument("--model-ema-decay", type=float, default=defaults.model_ema_decay)
    run.add_argument("--average-last", type=int, default=defaults.average_last, help="average the last k checkpoints that improved Acc@1")
    _add_run_and_output_arguments(parser, run, defaults)


def _add_backbone_and_sgd_arguments(run: argparse._ArgumentGroup, defaults: DetectionConfig | SegmentationConfig) -> None:
    """The detection and segmentation flags for the starting backbone, the schedule's length and SGD."""
    run.add_argument("--weights-backbone", dest="backbone_weights", default=None, help="a MobileNetV3 classification checkpoint (.pt)")
    run.add_argument("--epochs", type=int, default=defaults.epochs)
    run.add_argument("-b", "--batch-size", type=int, default=defaults.batch_size, help="per process (the global batch is this × processes)")
    run.add_argument("--lr", type=float, default=defaults.lr)
    run.add_argument("--momentum", type=float, default=defaults.momentum)
    run.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, default=defaults.weight_decay)


def _add_detection_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DetectionConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--data-path", help="COCO folder with train2017/, val2017/ (or train/, val/) and annotations/ (default: the book's mini-COCO)")
    data.add_argument("--keypoints", action="store_true", help="read person_keypoints_*.json instead of instances_*.json")
    data.add_argument("--scenes-train-size", type=positive_int, default=1600, help="training scenes of mini-COCO (without --data-path)")
    data.add_argument("--scenes-val-size", type=positive_int, default=200, help="validation scenes of mini-COCO (without --data-path)")
    run = parser.add_argument_group("training (TorchVision's flag names)")
    run.add_argument("--model", default=defaults.model, choices=DETECTION_MODELS)
    run.add_argument("--no-light-heads", dest="light_heads", action="store_false", help="TorchVision's full-size box and keypoint heads")
    run.add_argument("--min-size", type=int, default=defaults.min_size, help="R-CNNs only: SSDlite always resizes to 320×320")
    run.add_argument("--max-size", type=int, default=defaults.max_size)
    run.add_argument("--trainable-backbone-layers", type=int, default=None)
    _add_backbone_and_sgd_arguments(run, defaults)
    run.add_argument("--lr-scheduler", default=defaults.lr_scheduler, choices=LR_SCHEDULERS, help="SSDlite's recipe: cosineannealinglr")
    run.add_argument("--lr-steps", type=int, nargs="+", default=list(defaults.lr_steps))
    run.add_argument("--lr-gamma", type=float, default=defaults.lr_gamma)
    run.add_argument("--warmup-iters", type=int, default=defaults.warmup_iters)
    run.add_argument("--data-augmentation", default=defaults.data_augmentation, choices=AUGMENTATIONS,
                     help="TorchVision's presets (hflip, ssd, ssdlite) or the book's photometric (keypoint models: photometric only)")  # fmt: skip
    run.add_argument("--rpn-pre-nms-top-n-train", type=int, default=defaults.rpn_pre_nms_top_n_train, help="TorchVision: 2000")
    run.add_argument("--rpn-post-nms-top-n-train", type=int, default=defaults.rpn_post_nms_top_n_train, help="TorchVision: 2000")
    run.add_argument("--box-batch-size-per-image", type=int, default=defaults.box_batch_size_per_image, help="TorchVision: 512")
    _add_run_and_output_arguments(parser, run, defaults)


def _add_segmentation_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SegmentationConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=("scenes", "voc"), default="scenes", help="'scenes': the book's mini-COCO semantic scenes; 'voc': Pascal VOC 2012 under --data-path")
    data.add_argument("--data-path", help="with --dataset voc: the folder that holds VOCdevkit/VOC2012")
    data.add_argument("--scenes-train-size", type=positive_int, default=1600, help="training scenes of --dataset scenes")
    data.add_argument("--scenes-val-size", type=positive_int, default=200, help="validation scenes of --dataset scenes")
    run = parser.add_argument_group("training (TorchVision's flag names)")
    run.add_argument("--model", default=defaults.model, choices=SEGMENTATION_MODELS)
    run.add_argument("--aux-loss", action="store_true", help="an auxiliary FCN head (DeepLabV3 and FCN)")
    run.add_argument("--no-dilated", dest="dilated", action="store_false", help="the backbone's last stage at stride 32 instead of 16")
    run.add_argument("--image-size", type=int, default=None, help="images and masks resized to this square (default 128 for scenes, 520 for VOC)")
    _add_backbone_and_sgd_arguments(run, defaults)
    run.add_argument("--aux-weight", type=float, default=defaults.aux_weight)
    run.add_argument("--flip-prob", type=float, default=defaults.flip_prob)
    _add_run_and_output_arguments(parser, run, defaults)


IMAGENET_SIZES = {"train_crop_size": 224, "val_resize_size": 256, "val_crop_size": 224, "train_min_scale": 0.08}


def config_from_args(args: argparse.Namespace) -> ClassificationConfig:
    """The :class:`ClassificationConfig` that the parsed flags describe."""
    fields = {f.name for f in dataclasses.fields(ClassificationConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    sizes = SHAPES_CROP_SIZES if args.dataset == "shapes" else IMAGENET_SIZES
    for name, default in sizes.items():
        values.setdefault(name, default)
    if values.get("lr_noise") is not None:
        values["lr_noise"] = tuple(values["lr_noise"])
    return ClassificationConfig(**values)


def classification_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnv3lib.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_classification_arguments(commands.add_parser("classification", help="train a MobileNetV3 classifier"))
    _add_detection_arguments(commands.add_parser("detection", help="train a MobileNetV3 detector on COCO or mini-COCO"))
    _add_segmentation_arguments(commands.add_parser("segmentation", help="train a MobileNetV3 segmentation model on VOC or mini-COCO scenes"))
    return parser


def _run_options(args: argparse.Namespace) -> dict[str, object]:
    """fit()'s keyword arguments that the shared flags give: the runtime, built once here, and the run's
    output options."""
    runtime = Runtime(device=args.device, amp=args.amp, channels_last=args.channels_last, compile=args.compile, sync_bn=args.sync_bn,
                      log_every=args.log_every)  # fmt: skip
    return {"runtime": runtime, "output_dir": Path(args.output_dir), "resume": args.resume, "overwrite": args.overwrite,
            "progress": args.progress, "log": print, "stop_after_epoch": args.stop_after_epoch}  # fmt: skip


def _write_history(output: Path, config: object, result: object, **extra: object) -> None:
    """history.json beside the checkpoint (rank 0 only)."""
    if distributed.is_main():
        summary = {"config": config.to_dict(), "history": [dataclasses.asdict(e) for e in result.history], **extra}  # type: ignore[attr-defined]
        (output / "history.json").write_text(json.dumps(summary, indent=1))


def _report(result: object, output: Path, line: str) -> int:
    """Print the run's last line (rank 0 only); the exit status: 1 if the loss diverged."""
    if result.diverged:  # type: ignore[attr-defined]
        if distributed.is_main():
            print(f"the loss diverged at epoch {len(result.history)}; the last good checkpoint is {output / 'checkpoint.pt'}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    if distributed.is_main():
        print(line)
    return 0


def run_classification(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.dataset == "shapes":
        if args.data_path:
            raise ValueError(f"--data-path {args.data_path} is not read with --dataset shapes: drop one of them")
        train_set, val_set = shapes_splits(args.shapes_train_size, args.shapes_val_size)
    else:
        if not args.data_path:
            raise ValueError("--data-path is required unless --dataset shapes")
        train_set, val_set = image_folder_splits(args.data_path)
    options = _run_options(args)
    output = options["output_dir"]
    result = fit(config, train_set, val_set, **options)  # type: ignore[arg-type]
    finite = [e.val_acc1 for e in result.history if math.isfinite(e.val_acc1)]
    best_acc1, averaged = max(finite, default=float("nan")), result.extras.get("averaged")
    _write_history(output, config, result, best_acc1=best_acc1, averaged=averaged, diverged=result.diverged)
    if averaged is not None and distributed.is_main():
        save_checkpoint({"model": result.extras["averaged_state_dict"], "config": config.to_dict()}, output / "averaged.pt")
        print(f"averaged the checkpoints of epochs {averaged['epochs']}: Acc@1 {averaged['acc1']:.2f}")
    return _report(result, output, f"best Acc@1 {best_acc1:.2f}; checkpoint in {output / 'checkpoint.pt'}")


def run_detection(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(DetectionConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    config = DetectionConfig(**{**values, "lr_steps": tuple(args.lr_steps)})
    if args.data_path:
        root, kind = Path(args.data_path), "person_keypoints" if args.keypoints else "instances"
        names = [f"{split}2017" if (root / f"{split}2017").is_dir() else split for split in ("train", "val")]  # COCO 2017, or export_coco's
        train_set, val_set = (CocoFolder(root / name, root / "annotations" / f"{kind}_{name}.json") for name in names)
    else:
        train_set, val_set = minicoco_splits(args.scenes_train_size, args.scenes_val_size)
    options = _run_options(args)
    output = options["output_dir"]
    result = fit(config, train_set, val_set, **options)  # type: ignore[arg-type]
    _write_history(output, config, result)
    return _report(result, output, f"box AP {result.history[-1].bbox_ap:.3f}; checkpoint in {output / 'checkpoint.pt'}")


def run_segmentation(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(SegmentationConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    values.setdefault("image_size", 520 if args.dataset == "voc" else 128)
    config = SegmentationConfig(**values)
    if args.dataset == "voc":
        if not args.data_path:
            raise ValueError("--data-path is required with --dataset voc (the folder that holds VOCdevkit/VOC2012)")
        train_set, val_set = voc_splits(args.data_path)
    else:
        if args.data_path:
            raise ValueError(f"--data-path {args.data_path} is not read with --dataset scenes: drop one of them, or add --dataset voc")
        train_set, val_set = minicoco_splits(args.scenes_train_size, args.scenes_val_size, image_size=128, semantic=True)
    options = _run_options(args)
    output = options["output_dir"]
    result = fit(config, train_set, val_set, **options)  # type: ignore[arg-type]
    _write_history(output, config, result)
    return _report(result, output, f"mIoU {result.history[-1].miou:.2f}; checkpoint in {output / 'checkpoint.pt'}")


def _flag_message(parser: argparse.ArgumentParser, command: str, error: Exception) -> str:
    """``error``'s message, led by the flag of the first setting it names (``lr_gamma`` → ``--lr-gamma``)."""
    message = str(error)
    subparser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    flags = {action.dest: action.option_strings[-1] for action in subparser._actions if action.option_strings}
    named = [dest for dest in flags if re.search(rf"\b{dest}\b", message)]
    return f"{flags[named[0]]}: {message}" if named and not message.startswith("--") else message


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a bad flag, bad data or an output folder that holds a run is reported in one
    line naming the flag (exit status 2), before any training step."""
    parser = classification_parser()
    args = parser.parse_args(argv)
    commands = {"classification": run_classification, "detection": run_detection, "segmentation": run_segmentation}
    try:
        args.device = distributed.init_from_env(args.device)  # under torchrun: join the process group
        return commands[args.command](args)
    except (ValueError, TypeError, FileExistsError, PermissionError, FileNotFoundError, CheckpointWriteError) as error:
        if distributed.is_main():  # every process meets the same error: report it once
            print(f"{parser.prog} {args.command}: error: {_flag_message(parser, args.command, error)}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    sys.exit(main())
