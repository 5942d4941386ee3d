"""The articles' published numbers, with their sources, to print beside the book's own measurements.

Two kinds of source:

* TorchVision's weight metadata (``weights.meta``), read from the installed torchvision at run time,
  so it works offline and always matches the reader's torchvision.
* Numbers that exist only in the articles (the PyTorch blog post "Everything you need to know about
  TorchVision's MobileNetV3 implementation", 2021; the torchvision 0.9 models overview; TorchVision's
  models documentation of that time), copied here once with their units and sources.
"""

from __future__ import annotations

from typing import Any

from torchvision.models import MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights
from torchvision.models import detection as tv_detection
from torchvision.models import segmentation as tv_segmentation
from torchvision.models.quantization import MobileNet_V3_Large_QuantizedWeights

__all__ = [
    "BLOG", "BLOG_SOURCE", "BLOG_DETECTION", "BLOG_SEGMENTATION", "BLOG_LOW_RES_SEGMENTATION", "OVERVIEW", "OVERVIEW_SOURCE",
    "MODELS_DOC", "MODELS_DOC_SOURCE", "torchvision_meta", "torchvision_detection_meta", "torchvision_segmentation_meta",
    "BLOG_REDUCED_TAIL", "TORCHVISION_RECIPES", "TORCHVISION_RECIPES_SOURCE",
    "REFERENCES_SOURCE", "DETECTION_RECIPES", "DETECTION_WARMUP", "BLOG_DETECTION_CLAIMS",
    "SEGMENTATION_REFERENCES_SOURCE", "SEGMENTATION_RECIPES",
]  # fmt: skip

BLOG_SOURCE = "PyTorch blog, 'Everything you need to know about TorchVision's MobileNetV3 implementation' (2021)"

# The blog's classification table: relative CPU timings ("not absolute benchmarks"), parameters in millions.
BLOG: dict[str, dict[str, float]] = {
    "mobilenet_v3_large": {"acc1": 74.042, "acc5": 91.340, "cpu_s": 0.0411, "params_m": 5.48},
    "mobilenet_v3_small": {"acc1": 67.668, "acc5": 87.402, "cpu_s": 0.0165, "params_m": 2.54},
    "quantized_mobilenet_v3_large": {"acc1": 73.004, "acc5": 90.858, "cpu_s": 0.0162, "params_m": 2.96},
    # the same post's text: post-training quantization of the float Large weights, for comparison with QAT
    "ptq_mobilenet_v3_large": {"acc1": 71.160, "acc5": 89.834},
    "mobilenet_v2": {"acc1": 71.880, "acc5": 90.290, "cpu_s": 0.0608, "params_m": 3.50},
    "resnet50": {"acc1": 76.150, "acc5": 92.870, "cpu_s": 0.2545, "params_m": 25.56},
    "resnet18": {"acc1": 69.760, "acc5": 89.080, "cpu_s": 0.1032, "params_m": 11.69},
}

# The blog's detection numbers: COCO box mAP, CPU seconds per image ("not absolute benchmarks"), parameters
BLOG_DETECTION: dict[str, dict[str, float]] = {
    "fasterrcnn_mobilenet_v3_large_fpn": {"box_map": 32.8, "cpu_s": 0.8409, "params_m": 19.39},
    "fasterrcnn_mobilenet_v3_large_320_fpn": {"box_map": 22.8, "cpu_s": 0.1679, "params_m": 19.39},
    "fasterrcnn_resnet50_fpn": {"box_map": 37.0, "cpu_s": 4.1514, "params_m": 41.76},
    "retinanet_resnet50_fpn": {"box_map": 36.4, "cpu_s": 4.8825, "params_m": 34.01},
    # RPN NMS tuning of the 320 model: before (TorchVision's default 1000/1000 proposals) and after (150/150)
    "rpn_tuning_before": {"box_map": 23.0, "cpu_s": 0.2904},
    "rpn_tuning_after": {"box_map": 22.8, "cpu_s": 0.1679},
}

# The blog's segmentation numbers (COCO val2017 with Pascal VOC's 20 classes, images resized to 520):
# mIoU and global pixel accuracy in %, CPU seconds per image, parameters in millions; ``low_res_miou``
# is the same weights evaluated at 320. FCN on MobileNetV3-Large was not released.
BLOG_SEGMENTATION: dict[str, dict[str, float]] = {
    "lraspp_mobilenet_v3_large": {"miou": 57.9, "pixel_acc": 91.2, "cpu_s": 0.3278, "params_m": 3.22, "low_res_miou": 55.8},
    "deeplabv3_mobilenet_v3_large": {"miou": 60.3, "pixel_acc": 91.2, "cpu_s": 0.5869, "params_m": 11.03, "low_res_miou": 56.5},
    "fcn_mobilenet_v3_large": {"miou": 57.8, "pixel_acc": 90.9, "cpu_s": 0.3702, "params_m": 5.05, "low_res_miou": 54.8},
    "deeplabv3_resnet50": {"miou": 66.4, "pixel_acc": 92.4, "cpu_s": 6.3531, "params_m": 39.64},
    "fcn_resnet50": {"miou": 60.5, "pixel_acc": 91.4, "cpu_s": 5.0146, "params_m": 32.96},
}

# The blog's low-resolution table: the same weights fed 320-px images instead of 520 (the MobileNetV3 heads).
# ``miou_change`` is the mIoU difference in points, ``faster_pct`` the blog's "speed improvement" in %.
BLOG_LOW_RES_SEGMENTATION: dict[str, dict[str, float]] = {
    "lraspp_mobilenet_v3_large": {"miou_change": -2.1, "faster_pct": 65.26, "miou": 55.8, "pixel_acc": 90.3, "cpu_s": 0.1139},
    "deeplabv3_mobilenet_v3_large": {"miou_change": -3.8, "faster_pct": 63.86, "miou": 56.5, "pixel_acc": 90.3, "cpu_s": 0.2121},
    "fcn_mobilenet_v3_large": {"miou_change": -3.0, "faster_pct": 57.57, "miou": 54.8, "pixel_acc": 90.1, "cpu_s": 0.1571},
}

OVERVIEW_SOURCE = "PyTorch blog, 'The torchvision 0.9 models' overview (TorchVision 0.9 release, 2021)"
# The overview's speed claims, as "N× faster on CPU than" the reference model.
OVERVIEW: dict[str, dict[str, Any]] = {
    "mobilenet_v3_large": {"faster_than": "resnet50", "times": 6.0, "words": "over 6x faster"},
    "mobilenet_v3_small": {"faster_than": "resnet50", "times": 15.0, "words": "15x faster"},
    "quantized_mobilenet_v3_large": {"faster_than": "mobilenet_v3_large", "times": 2.5, "words": "roughly 2.5x faster"},
    "fasterrcnn_mobilenet_v3_large_fpn": {"faster_than": "fasterrcnn_resnet50_fpn", "times": 5.0, "words": "5x faster"},
    "fasterrcnn_mobilenet_v3_large_320_fpn": {"faster_than": "fasterrcnn_resnet50_fpn", "times": 25.0, "words": "25x faster"},
    "deeplabv3_mobilenet_v3_large": {"faster_than": "fcn_resnet50", "times": 8.5, "words": "8.5x faster"},
    "lraspp_mobilenet_v3_large": {"faster_than": "fcn_resnet50", "times": 15.0, "words": "a 15x speed improvement"},
}

MODELS_DOC_SOURCE = "TorchVision's models documentation (docs/source/models.rst, the 0.9 era)"
# Keypoint R-CNN ResNet-50 FPN on COCO person keypoints (val2017): box AP and keypoint AP. The two mobile
# detectors: COCO box AP, and seconds per iteration on 8 GPUs, which the documentation does not name
# (training: 2 images per GPU for Faster R-CNN, 24 for SSDlite; testing: batch 1), with the training
# memory per GPU.
MODELS_DOC: dict[str, dict[str, float]] = {
    "keypointrcnn_resnet50_fpn": {"box_ap": 54.6, "keypoint_ap": 65.0},
    "fasterrcnn_mobilenet_v3_large_320_fpn": {"box_ap": 22.8, "train_s_per_it": 0.0978, "test_s_per_it": 0.0376, "memory_gb": 0.6},
    "ssdlite320_mobilenet_v3_large": {"box_ap": 21.3, "train_s_per_it": 0.1773, "test_s_per_it": 0.0906, "memory_gb": 1.5},
}

# The blog on ``reduced_tail`` (the last blocks' channels halved), a figure it takes from the MobileNetV3
# paper: it "reportedly leads to a 15% latency reduction" (no hardware named).
BLOG_REDUCED_TAIL: dict[str, float] = {"latency_reduction_pct": 15.0}

TORCHVISION_RECIPES_SOURCE = "TorchVision's references/classification/README.md (sections MobileNetV2 and MobileNetV3 Large & Small)"
# The published training commands: ``torchrun --nproc_per_node=8 train.py ...``; ``batch_size`` is per GPU
# (MobileNetV2's command leaves train.py's default, 32), ``lr`` is for the global batch, StepLR multiplies
# it by ``lr_gamma`` every ``lr_step_size`` epochs. MobileNetV3's RMSProp has ``eps=0.0316`` and ``alpha=0.9``
# hard-coded in train.py; the published weights average the last 3 checkpoints that improved Acc@1.
TORCHVISION_RECIPES: dict[str, dict[str, Any]] = {
    "mobilenet_v2": {"gpus": 8, "batch_size": 32, "epochs": 300, "opt": "sgd", "lr": 0.045, "weight_decay": 4e-5, "lr_step_size": 1,
                     "lr_gamma": 0.98},
    "mobilenet_v3": {"gpus": 8, "batch_size": 128, "epochs": 600, "opt": "rmsprop", "lr": 0.064, "weight_decay": 1e-5, "lr_step_size": 2,
                     "lr_gamma": 0.973, "eps": 0.0316, "alpha": 0.9, "auto_augment": "imagenet", "random_erase": 0.2, "average_last": 3},
}  # fmt: skip

_WEIGHTS = {
    "mobilenet_v3_large": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
    "mobilenet_v3_small": MobileNet_V3_Small_Weights.IMAGENET1K_V1,
    "quantized_mobilenet_v3_large": MobileNet_V3_Large_QuantizedWeights.IMAGENET1K_QNNPACK_V1,
}


def torchvision_meta(arch: str) -> dict[str, Any]:
    """Published figures of TorchVision's ImageNet weights for ``arch`` (``IMAGENET1K_V1``, or for
    ``"quantized_mobilenet_v3_large"`` the QAT int8 ``IMAGENET1K_QNNPACK_V1``).

    Returns:
        ``num_params``, ``macs_g`` (the metadata's ``_ops``: billions of multiply-adds, labelled
        "GFLOPS" in TorchVision's docs), ``acc1``, ``acc5`` (ImageNet-1K) and ``file_size_mb``.
    """
    if arch not in _WEIGHTS:
        raise ValueError(f"unknown architecture {arch!r}: expected one of {', '.join(map(repr, _WEIGHTS))}")
    meta = _WEIGHTS[arch].meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    return {
        "num_params": meta["num_params"],
        "macs_g": meta["_ops"],
        "acc1": metrics["acc@1"],
        "acc5": metrics["acc@5"],
        "file_size_mb": meta["_file_size"],
    }


def _coco_meta(enums: dict[str, Any], arch: str, kind: str, member: str, dataset: str) -> dict[str, Any]:
    if arch not in enums:
        raise ValueError(f"unknown {kind} {arch!r}: expected one of {', '.join(map(repr, enums))}")
    meta = getattr(enums[arch], member).meta
    return {"num_params": meta["num_params"], "gflops": meta["_ops"], **meta["_metrics"][dataset], "file_size_mb": meta["_file_size"]}


def torchvision_detection_meta(arch: str) -> dict[str, Any]:
    """Published figures of TorchVision's COCO weights for the detector ``arch``: ``num_params``,
    ``gflops`` (the metadata's ``_ops``), ``box_map`` (COCO val2017) and ``file_size_mb``."""
    enums = {
        "fasterrcnn_mobilenet_v3_large_fpn": tv_detection.FasterRCNN_MobileNet_V3_Large_FPN_Weights,
        "fasterrcnn_mobilenet_v3_large_320_fpn": tv_detection.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
        "fasterrcnn_resnet50_fpn": tv_detection.FasterRCNN_ResNet50_FPN_Weights,
        "ssdlite320_mobilenet_v3_large": tv_detection.SSDLite320_MobileNet_V3_Large_Weights,
    }
    return _coco_meta(enums, arch, "detector", "COCO_V1", "COCO-val2017")


def torchvision_segmentation_meta(arch: str) -> dict[str, Any]:
    """Published figures of TorchVision's ``COCO_WITH_VOC_LABELS_V1`` weights for the segmentation model
    ``arch``: ``num_params``, ``gflops`` (the metadata's ``_ops``), ``miou``, ``pixel_acc`` and ``file_size_mb``."""
    enums = {
        "lraspp_mobilenet_v3_large": tv_segmentation.LRASPP_MobileNet_V3_Large_Weights,
        "deeplabv3_mobilenet_v3_large": tv_segmentation.DeepLabV3_MobileNet_V3_Large_Weights,
        "fcn_resnet50": tv_segmentation.FCN_ResNet50_Weights,
        "deeplabv3_resnet50": tv_segmentation.DeepLabV3_ResNet50_Weights,
    }
    return _coco_meta(enums, arch, "segmentation model", "COCO_WITH_VOC_LABELS_V1", "COCO-val2017-VOC-labels")


# The same blog post's quantization section, in its own words: the QNNPACK int8 MobileNetV3-Large
# "provides a speed-up of 2.5x" (no method given beyond "measured on CPU"), and QAT "translates to an
# accuracy increase of 1.8 points comparing to simple post-training quantization" (Acc@1, ImageNet).
BLOG_QUANTIZATION_TEXT: dict[str, float] = {"int8_speed_up": 2.5, "qat_minus_ptq_points": 1.8}
# --------------------------------------------------------------------------------------------------
# Appended with the truth pass (issue 25): the training recipes and claims the detection chapters quote.
# --------------------------------------------------------------------------------------------------
REFERENCES_SOURCE = "TorchVision's detection references (references/detection/README.md and train.py)"
# The commands TorchVision's COCO detection weights were trained with: epochs, the epochs after which the
# learning rate drops tenfold (``multisteplr``) or a cosine decay, the learning rate for the images of one
# step (8 GPUs × the batch per GPU), the weight decay, and whether the backbone started from ImageNet.
# Every run warms up linearly over its first min(1000, iterations per epoch - 1) iterations from 1/1000
# of the rate (references/detection/engine.py). The two Faster R-CNNs share one command.
DETECTION_RECIPES: dict[str, dict[str, Any]] = {
    "fasterrcnn_mobilenet_v3_large_fpn": {"epochs": 26, "lr_steps": (16, 22), "lr": 0.02, "images_per_step": 16,
                                          "weight_decay": 1e-4, "imagenet_backbone": True},
    "fasterrcnn_mobilenet_v3_large_320_fpn": {"epochs": 26, "lr_steps": (16, 22), "lr": 0.02, "images_per_step": 16,
                                              "weight_decay": 1e-4, "imagenet_backbone": True},
    "keypointrcnn_resnet50_fpn": {"epochs": 46, "lr_steps": (36, 43), "lr": 0.02, "images_per_step": 16,
                                  "weight_decay": 1e-4, "imagenet_backbone": True},
    # cosine decay; from scratch (pytorch/vision#6536: "trained without pre-training from ImageNet")
    "ssdlite320_mobilenet_v3_large": {"epochs": 660, "lr": 0.15, "images_per_step": 192, "weight_decay": 4e-5,
                                      "imagenet_backbone": False},
}  # fmt: skip
DETECTION_WARMUP = {"max_iters": 1000, "factor": 0.001}

# The implementation article's detection claims in its own words (section "Object Detection"): tuning the
# RPN's NMS made the 320 model's CPU time "roughly 45%" faster (see ``rpn_tuning_*`` above) for 0.2 mAP;
# training directly on small images gave "a 5 mAP increase" over feeding small images to the
# high-resolution model; the FPN projects every level to 256 channels, "as this greatly improves the speed"
# (a claim the article does not measure).
BLOG_DETECTION_CLAIMS: dict[str, float] = {
    "rpn_tuning_faster_pct": 45, "rpn_tuning_map_cost": 0.2, "low_res_training_map_gain": 5, "fpn_channels": 256,
}  # fmt: skip

SEGMENTATION_REFERENCES_SOURCE = "TorchVision's segmentation references (references/segmentation/README.md and train.py)"
# The commands of TorchVision's MobileNetV3 segmentation weights: 30 epochs (train.py's default), lr 0.01
# (its default) for 8 GPUs × 4 images, weight decay 1e-6, a polynomial decay per iteration (power 0.9),
# random resizes (0.5–2× of 520) with 480-px crops and flips; DeepLabV3 with the auxiliary loss.
SEGMENTATION_RECIPES: dict[str, dict[str, Any]] = {
    "lraspp_mobilenet_v3_large": {"epochs": 30, "lr": 0.01, "images_per_step": 32, "weight_decay": 1e-6, "aux_loss": False},
    "deeplabv3_mobilenet_v3_large": {"epochs": 30, "lr": 0.01, "images_per_step": 32, "weight_decay": 1e-6, "aux_loss": True},
}  # fmt: skip
