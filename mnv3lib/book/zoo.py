"""Every model of the book at a glance: parameters, multiply-adds, CPU latency on the reader's machine,
our metric on the book's data and the published metric, labelled. The closing page ("Model zoo at a
glance") prints :func:`zoo_table` and plots latency against parameters.

Latency and multiply-adds are measured with random weights on one image of the size each model is
made for (speed does not depend on the weights, except a detector's, whose heads see as many
proposals as the RPN keeps: with random weights, all of them). Our metrics come from the book's saved
results (``mnv3lib/book/artifacts``), which the chapters re-measure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
import torchvision
from torch import nn

from ..models import detection
from ..models import quantization
from ..models import segmentation
from ..analysis.benchmark import compare_latency
from ..data.minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS
from ..engine.detection import DetectionConfig, build_detector
from .artifacts import load_classification_results, load_detection_results, load_segmentation_results
from .runs import BOOK_DETECTORS
from ..analysis.introspection import count_parameters, forward_macs
from ..models import mobilenet_v3_large, mobilenet_v3_small
from .published import BLOG, BLOG_DETECTION, BLOG_SEGMENTATION, torchvision_detection_meta, torchvision_meta, torchvision_segmentation_meta

__all__ = ["ZooEntry", "zoo_entries", "zoo_table"]


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo.

    Attributes:
        task: ``"classification"``, ``"detection"`` or ``"segmentation"``.
        chapter: Where the book explains it.
        build: Returns the model with random weights.
        image_size: ``(H, W)`` of the image it is timed and counted on.
        published: The published metric, labelled with its source and data.
        ours: Returns our metric on the book's data, labelled (None: the book did not train it).
        float_twin: For an int8 model, its float version, on which multiply-adds are counted.
        published_macs: TorchVision's metadata ``_ops`` (billions of multiply-adds, labelled GFLOPS), if any.
        article_cpu_s: The implementation article's CPU time (seconds per image, relative), if it has one.
    """

    task: str
    chapter: str
    build: Callable[[], nn.Module]
    image_size: tuple[int, int]
    published: str
    ours: Callable[[], str] | None = None
    float_twin: Callable[[], nn.Module] | None = None
    published_macs: float | None = None
    article_cpu_s: float | None = None


def _classifier_metric() -> str:
    results = load_classification_results()
    return f"shapes Acc@1 {results['runs'][results['checkpoint_run']]['final']['val_acc1']:.2f}"


def _detector_metric(name: str) -> Callable[[], str]:
    def metric() -> str:
        final = load_detection_results()["runs"][name]["final"]
        keypoints = final.get("keypoints_ap")
        boxes = f"mini-COCO box AP {100 * final['bbox_ap']:.1f}"
        return boxes if keypoints is None or keypoints != keypoints else f"{boxes}, keypoint AP {100 * keypoints:.1f}"

    return metric


def _segmenter_metric(name: str) -> Callable[[], str]:
    def metric() -> str:
        return f"mini-COCO mIoU {load_segmentation_results()['runs'][name]['final']['miou']:.1f}"

    return metric


def _imagenet(arch: str, quantized: bool = False) -> str:
    return f"ImageNet Acc@1 {torchvision_meta(arch)['acc1']} (TorchVision{', QAT int8' if quantized else ''})"


def _book_detector(name: str) -> Callable[[], nn.Module]:
    """The book's detector as it was trained: its saved config names the backbone it started from, which
    decides SSDlite's tail (the full one of the shapes-trained backbone, not the reduced one from scratch)."""

    def build() -> nn.Module:
        config = DetectionConfig.from_dict(load_detection_results()["runs"][name]["config"])
        return build_detector(config, len(MINICOCO_CLASSES) + 1, len(PERSON_KEYPOINTS))

    return build


def zoo_entries() -> dict[str, ZooEntry]:
    """The book's models, and the ResNet-50 models the articles compare them with."""
    tv_seg, tv_det = torchvision.models.segmentation, torchvision.models.detection
    photo, voc = (480, 640), (520, 520)
    main, low = BOOK_DETECTORS["main"].min_size, BOOK_DETECTORS["low_res"].min_size
    return {
        "MobileNetV3-Large": ZooEntry(
            "classification", "1", mobilenet_v3_large, (224, 224), _imagenet("mobilenet_v3_large"), published_macs=torchvision_meta("mobilenet_v3_large")["macs_g"],
            article_cpu_s=BLOG["mobilenet_v3_large"]["cpu_s"],
        ),  # fmt: skip
        "MobileNetV3-Small": ZooEntry(
            "classification", "1, 2", mobilenet_v3_small, (224, 224), _imagenet("mobilenet_v3_small"), _classifier_metric,
            published_macs=torchvision_meta("mobilenet_v3_small")["macs_g"],
            article_cpu_s=BLOG["mobilenet_v3_small"]["cpu_s"],
        ),  # fmt: skip
        "MobileNetV3-Large int8": ZooEntry(
            "classification", "3", lambda: quantization.mobilenet_v3_large(quantize=True), (224, 224),
            _imagenet("quantized_mobilenet_v3_large", quantized=True), float_twin=mobilenet_v3_large,
            published_macs=torchvision_meta("quantized_mobilenet_v3_large")["macs_g"],
            article_cpu_s=BLOG["quantized_mobilenet_v3_large"]["cpu_s"],
        ),  # fmt: skip
        "Faster R-CNN MobileNetV3-Large FPN": ZooEntry(
            "detection", "4", detection.fasterrcnn_mobilenet_v3_large_fpn, photo,
            f"COCO box mAP {torchvision_detection_meta('fasterrcnn_mobilenet_v3_large_fpn')['box_map']} (TorchVision)",
            published_macs=torchvision_detection_meta("fasterrcnn_mobilenet_v3_large_fpn")["gflops"],
            article_cpu_s=BLOG_DETECTION["fasterrcnn_mobilenet_v3_large_fpn"]["cpu_s"],
        ),  # fmt: skip
        "Faster R-CNN MobileNetV3-Large 320 FPN": ZooEntry(
            "detection", "4", detection.fasterrcnn_mobilenet_v3_large_320_fpn, photo,
            f"COCO box mAP {torchvision_detection_meta('fasterrcnn_mobilenet_v3_large_320_fpn')['box_map']} (TorchVision)",
            published_macs=torchvision_detection_meta("fasterrcnn_mobilenet_v3_large_320_fpn")["gflops"],
            article_cpu_s=BLOG_DETECTION["fasterrcnn_mobilenet_v3_large_320_fpn"]["cpu_s"],
        ),  # fmt: skip
        "SSDlite320 MobileNetV3-Large": ZooEntry(
            "detection", "5", detection.ssdlite320_mobilenet_v3_large, photo,
            f"COCO box mAP {torchvision_detection_meta('ssdlite320_mobilenet_v3_large')['box_map']} (TorchVision)",
            published_macs=torchvision_detection_meta("ssdlite320_mobilenet_v3_large")["gflops"],
        ),  # fmt: skip
        f"book keypoint R-CNN, {main} px": ZooEntry("detection", "4", _book_detector("main"), (main, main), "— (not in TorchVision)", _detector_metric("main")),
        f"book keypoint R-CNN, {low} px": ZooEntry("detection", "4", _book_detector("low_res"), (main, main), "— (not in TorchVision)", _detector_metric("low_res")),
        "book Faster R-CNN 320": ZooEntry(
            "detection", "5", _book_detector("fasterrcnn_320"), (main, main),
            f"COCO box mAP {torchvision_detection_meta('fasterrcnn_mobilenet_v3_large_320_fpn')['box_map']} (TorchVision, full size)",
            _detector_metric("fasterrcnn_320"),
        ),  # fmt: skip
        "book SSDlite320": ZooEntry(
            "detection", "5", _book_detector("ssdlite"), (main, main),
            f"COCO box mAP {torchvision_detection_meta('ssdlite320_mobilenet_v3_large')['box_map']} (TorchVision, 91 classes)",
            _detector_metric("ssdlite"),
        ),  # fmt: skip
        "Faster R-CNN ResNet-50 FPN": ZooEntry(
            "detection", "4", lambda: tv_det.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None), photo,
            f"COCO box mAP {torchvision_detection_meta('fasterrcnn_resnet50_fpn')['box_map']} (TorchVision)",
            published_macs=torchvision_detection_meta("fasterrcnn_resnet50_fpn")["gflops"],
            article_cpu_s=BLOG_DETECTION["fasterrcnn_resnet50_fpn"]["cpu_s"],
        ),  # fmt: skip
        "LR-ASPP MobileNetV3-Large": ZooEntry(
            "segmentation", "6", segmentation.lraspp_mobilenet_v3_large, voc,
            f"COCO-VOC mIoU {torchvision_segmentation_meta('lraspp_mobilenet_v3_large')['miou']} (TorchVision)", _segmenter_metric("lraspp"),
            published_macs=torchvision_segmentation_meta("lraspp_mobilenet_v3_large")["gflops"],
            article_cpu_s=BLOG_SEGMENTATION["lraspp_mobilenet_v3_large"]["cpu_s"],
        ),  # fmt: skip
        "DeepLabV3 MobileNetV3-Large": ZooEntry(
            "segmentation", "6", lambda: segmentation.deeplabv3_mobilenet_v3_large(aux_loss=False), voc,
            f"COCO-VOC mIoU {torchvision_segmentation_meta('deeplabv3_mobilenet_v3_large')['miou']} (TorchVision)", _segmenter_metric("deeplabv3"),
            published_macs=torchvision_segmentation_meta("deeplabv3_mobilenet_v3_large")["gflops"],
            article_cpu_s=BLOG_SEGMENTATION["deeplabv3_mobilenet_v3_large"]["cpu_s"],
        ),  # fmt: skip
        "FCN MobileNetV3-Large": ZooEntry(
            "segmentation", "6", lambda: segmentation.fcn_mobilenet_v3_large(aux_loss=False), voc,
            f"COCO-VOC mIoU {BLOG_SEGMENTATION['fcn_mobilenet_v3_large']['miou']} (article; not released)", _segmenter_metric("fcn"),
            article_cpu_s=BLOG_SEGMENTATION["fcn_mobilenet_v3_large"]["cpu_s"],
        ),  # fmt: skip
        "FCN ResNet-50": ZooEntry(
            "segmentation", "6", lambda: tv_seg.fcn_resnet50(weights=None, weights_backbone=None), voc,
            f"COCO-VOC mIoU {torchvision_segmentation_meta('fcn_resnet50')['miou']} (TorchVision)",
            published_macs=torchvision_segmentation_meta("fcn_resnet50")["gflops"],
            article_cpu_s=BLOG_SEGMENTATION["fcn_resnet50"]["cpu_s"],
        ),  # fmt: skip
        "DeepLabV3 ResNet-50": ZooEntry(
            "segmentation", "6", lambda: tv_seg.deeplabv3_resnet50(weights=None, weights_backbone=None), voc,
            f"COCO-VOC mIoU {torchvision_segmentation_meta('deeplabv3_resnet50')['miou']} (TorchVision)",
            published_macs=torchvision_segmentation_meta("deeplabv3_resnet50")["gflops"],
            article_cpu_s=BLOG_SEGMENTATION["deeplabv3_resnet50"]["cpu_s"],
        ),  # fmt: skip
    }


def _example(entry: ZooEntry) -> torch.Tensor | list[torch.Tensor]:
    image = torch.rand(3, *entry.image_size, generator=torch.Generator().manual_seed(0))
    return [image] if entry.task == "detection" else image[None]


def zoo_table(entries: dict[str, ZooEntry] | None = None, *, repeats: int = 3, warmup: int = 1, latency: bool = True) -> pd.DataFrame:
    """One row per model: task, chapter, input, parameters (M), multiply-adds (G, ours and TorchVision's),
    CPU latency (ms, the median of ``repeats`` after ``warmup``; skipped when ``latency`` is False), the
    article's CPU time (s; relative, on its machine), our metric and the published one.

    Each model is built with ``torch.manual_seed(0)`` and fed one image seeded 0, so a chapter that times
    some of the same entries with this function times the same computation (a detector's weights decide
    how much work its heads do). The models that take the same input (task and size) are timed together,
    interleaved by :func:`~mnv3lib.analysis.benchmark.compare_latency`, so that their ratios share the
    machine's state.
    """
    entries = entries or zoo_entries()
    rows, models, examples = [], {}, {}
    for name, entry in entries.items():
        torch.manual_seed(0)  # a detector's multiply-adds depend on its (random) weights: the same for every call
        model = models[name] = entry.build().eval()
        example = examples[name] = _example(entry)
        macs = forward_macs(entry.float_twin() if entry.float_twin else model, example)
        rows.append({
            "model": name, "task": entry.task, "chapter": entry.chapter, "input": "×".join(map(str, entry.image_size)),
            "parameters (M)": count_parameters(entry.float_twin() if entry.float_twin else model) / 1e6, "multiply-adds (G)": macs / 1e9,
            "TorchVision: multiply-adds (G)": entry.published_macs, "article: CPU (s)": entry.article_cpu_s,
            "ours, on the book's data": entry.ours() if entry.ours else "—", "published": entry.published,
        })  # fmt: skip
    table = pd.DataFrame(rows).set_index("model")
    if latency:
        groups: dict[tuple[str, tuple[int, int]], list[str]] = {}
        for name, entry in entries.items():
            groups.setdefault((entry.task, entry.image_size), []).append(name)
        median_ms: dict[str, float] = {}
        for names in groups.values():
            timed = compare_latency({name: models[name] for name in names}, inputs=examples[names[0]], repeats=repeats, warmup=warmup)
            median_ms |= {name: timing.median_ms for name, timing in timed.items()}
        table.insert(table.columns.get_loc("article: CPU (s)"), "CPU latency (ms)", [median_ms[name] for name in table.index])
    return table
