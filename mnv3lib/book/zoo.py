"""Every model of the book at a glance: parameters, multiply-adds, CPU latency, our metric on the book's
data and the published metric, labelled. The closing page ("Model zoo at a glance") prints
:func:`zoo_table` and plots latency against parameters.

The book prints one timing record (``artifacts/latency_results.json``), which
``python -m mnv3lib.book latency`` (:func:`record_latency`) makes by timing :func:`timing_entries` in one
process: so a ratio that Chapter 4 or 6 prints is the same number on the zoo's page. Timed again in
each chapter's own process, the same ratio came out up to 35 % apart from one run to the next on the
book's 2-core machine, even with freed memory held (64 % without: see
:func:`~mnv3lib.analysis.benchmark.hold_freed_memory`). ``zoo_table(entries, repeats=15)`` times them
on the reader's machine instead.

Latency and multiply-adds are measured with random weights on one image of the size each model is
made for (speed does not depend on the weights, except a detector's, whose heads see as many
proposals as the RPN keeps: with random weights, all of them). Our metrics come from the book's saved
results (``mnv3lib/book/artifacts``), which the chapters re-measure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torchvision
from torch import nn

from ..models import detection
from ..models import quantization
from ..models import segmentation
from ..analysis.benchmark import Latency, compare_latency, hold_freed_memory
from ..checks import check_count, check_positive
from ..data.minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS
from ..engine.detection import DetectionConfig, build_detector
from .artifacts import ARTIFACTS, LATENCY_RESULTS, load_classification_results, load_detection_results, load_latency_results, load_segmentation_results, machine
from .runs import BOOK_DETECTORS
from ..analysis.introspection import count_parameters, forward_macs
from ..models import mobilenet_v3_large, mobilenet_v3_small
from .published import BLOG, BLOG_DETECTION, BLOG_SEGMENTATION, torchvision_detection_meta, torchvision_meta, torchvision_segmentation_meta

__all__ = ["LatencyRecord", "ZooEntry", "load_latency_record", "measure_entries", "record_latency", "timing_entries", "zoo_entries", "zoo_table"]

LATENCY_COMMAND = "python -m mnv3lib.book latency"


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


def timing_entries() -> dict[str, ZooEntry]:
    """What the book's timing record holds: the zoo, and Chapter 6's variants of its segmentation models
    (the three MobileNetV3 heads at the article's 320-pixel low-resolution inference, LR-ASPP undilated),
    all on the same 520×520 image."""
    entries = zoo_entries()
    variants = {}
    for name in ("LR-ASPP MobileNetV3-Large", "DeepLabV3 MobileNetV3-Large", "FCN MobileNetV3-Large"):
        entry = entries[name]
        variants[f"{name}, at 320 px"] = ZooEntry(
            "segmentation", "6", lambda build=entry.build: segmentation.LowResolution(build(), 320), entry.image_size, entry.published,
        )  # fmt: skip
    lraspp = entries["LR-ASPP MobileNetV3-Large"]
    variants["LR-ASPP MobileNetV3-Large, undilated"] = ZooEntry(
        "segmentation", "6", lambda: segmentation.lraspp_mobilenet_v3_large(dilated=False), lraspp.image_size, "— (not in TorchVision)",
    )  # fmt: skip
    return entries | variants


def _example(entry: ZooEntry) -> torch.Tensor | list[torch.Tensor]:
    image = torch.rand(3, *entry.image_size, generator=torch.Generator().manual_seed(0))
    return [image] if entry.task == "detection" else image[None]


def _build(entry: ZooEntry) -> nn.Module:
    torch.manual_seed(0)  # a detector's multiply-adds depend on its (random) weights: the same for every call
    return entry.build().eval()


def _check_counts(repeats: int, warmup: int) -> None:
    check_positive(repeats, "repeats", integer=True)
    check_count(warmup, "warmup")


def measure_entries(entries: Mapping[str, ZooEntry], *, repeats: int = 15, warmup: int = 1) -> dict[str, Latency]:
    """Time the entries on the CPU, each built with ``torch.manual_seed(0)`` and fed one image seeded 0.
    The entries that take the same input (task and size) are timed together, interleaved by
    :func:`~mnv3lib.analysis.benchmark.compare_latency`, so that their ratios share the machine's state."""
    if not entries:
        raise ValueError("expected at least one zoo entry to time, got none")
    _check_counts(repeats, warmup)
    groups: dict[tuple[str, tuple[int, int]], list[str]] = {}
    for name, entry in entries.items():
        groups.setdefault((entry.task, entry.image_size), []).append(name)
    timed: dict[str, Latency] = {}
    for names in groups.values():
        models = {name: _build(entries[name]) for name in names}
        timed |= compare_latency(models, inputs=_example(entries[names[0]]), repeats=repeats, warmup=warmup)
    return {name: timed[name] for name in entries}


@dataclass(frozen=True)
class LatencyRecord:
    """The book's timing record: each model's median CPU latency (ms) and quartiles, how they were
    measured and on what machine (:func:`record_latency` writes it, :func:`load_latency_record` reads it)."""

    median_ms: dict[str, float]
    q1_ms: dict[str, float]
    q3_ms: dict[str, float]
    repeats: int
    warmup: int
    memory_held: bool
    machine: dict[str, Any]
    command: str

    def __str__(self) -> str:
        made = self.machine
        return (
            f"the book's timing record: the median of {self.repeats} interleaved passes per model, batch 1, "
            f"on {made['threads']} CPU threads ({made['processor']}), torch {made['torch']}; "
            f"`{self.command}` re-measures it"
        )


def record_latency(output_dir: Path = ARTIFACTS, *, entries: Mapping[str, ZooEntry] | None = None, repeats: int = 15, warmup: int = 1) -> LatencyRecord:
    """Time ``entries`` (default: :func:`timing_entries`) in this process and write the record to
    ``output_dir/latency_results.json`` (atomically, replacing the previous record); return it."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise FileNotFoundError(f"no folder at {output_dir} to write the timing record into")
    _check_counts(repeats, warmup)
    entries = timing_entries() if entries is None else entries
    memory_held = hold_freed_memory()
    with quantization.eager_int8_notices_silenced():
        timed = measure_entries(entries, repeats=repeats, warmup=warmup)
    record = LatencyRecord(
        {name: t.median_ms for name, t in timed.items()}, {name: t.q1_ms for name, t in timed.items()}, {name: t.q3_ms for name, t in timed.items()},
        repeats, warmup, memory_held, machine(), LATENCY_COMMAND,
    )  # fmt: skip
    path = output_dir / LATENCY_RESULTS
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(vars(record), indent=1) + "\n")
    os.replace(partial, path)
    return record


def load_latency_record(path: Path | None = None) -> LatencyRecord:
    """The timing record that :func:`record_latency` wrote (default: the one shipped with the book)."""
    path = Path(path) if path is not None else ARTIFACTS / LATENCY_RESULTS
    again = f"run `{LATENCY_COMMAND}` again"
    try:
        fields = load_latency_results(path)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); {again}") from None
    expected = set(LatencyRecord.__dataclass_fields__)
    if not isinstance(fields, dict) or set(fields) != expected:
        found = sorted(fields) if isinstance(fields, dict) else type(fields).__name__
        raise ValueError(f"{path} is not a timing record: expected the keys {sorted(expected)}, found {found}; {again}")
    times = [fields[key] for key in ("median_ms", "q1_ms", "q3_ms")]
    if not all(isinstance(t, dict) and all(isinstance(v, (int, float)) and v > 0 for v in t.values()) for t in times):
        raise ValueError(f"{path}: each time must be a positive number of milliseconds; {again}")
    if not isinstance(fields["machine"], dict) or not {"torch", "threads", "processor"} <= set(fields["machine"]):
        raise ValueError(f"{path}: the machine must name its torch, threads and processor; {again}")
    return LatencyRecord(**fields)


def zoo_table(
    entries: Mapping[str, ZooEntry] | None = None, *, latency: bool | LatencyRecord = True, repeats: int = 15, warmup: int = 1
) -> pd.DataFrame:
    """One row per model: task, chapter, input, parameters (M), multiply-adds (G, ours and TorchVision's),
    CPU latency (ms), the article's CPU time (s; relative, on its machine), our metric and the published one.

    Each model is built with ``torch.manual_seed(0)`` and fed one image seeded 0 (a detector's weights
    decide how much work its heads do), as :func:`measure_entries` times it.

    Args:
        entries: Name → entry (default: :func:`zoo_entries`).
        latency: True to time the entries now (:func:`measure_entries`, the median of ``repeats`` after
            ``warmup``), a :class:`LatencyRecord` to take their medians from it, or False for no latency column.
        repeats: Timed passes per model, when timing now.
        warmup: Untimed passes per model first, when timing now.

    Raises:
        ValueError: ``latency`` is a record that lacks some of the entries, or neither a bool nor a record;
            ``repeats`` or ``warmup`` is not a count (checked before any model is built).
    """
    entries = zoo_entries() if entries is None else entries
    if not entries:
        raise ValueError("expected at least one zoo entry, got none (None takes them all)")
    if isinstance(latency, LatencyRecord):
        missing = [name for name in entries if name not in latency.median_ms]
        if missing:
            raise ValueError(f"the timing record has no {', '.join(missing)}: run `{latency.command}` to time every entry of timing_entries()")
    elif not isinstance(latency, bool):
        raise ValueError(f"expected latency to be True, False or a LatencyRecord, got {latency!r}")
    elif latency:
        _check_counts(repeats, warmup)
    rows = []
    for name, entry in entries.items():
        model = entry.float_twin() if entry.float_twin else _build(entry)
        rows.append({
            "model": name, "task": entry.task, "chapter": entry.chapter, "input": "×".join(map(str, entry.image_size)),
            "parameters (M)": count_parameters(model) / 1e6, "multiply-adds (G)": forward_macs(model, _example(entry)) / 1e9,
            "TorchVision: multiply-adds (G)": entry.published_macs, "article: CPU (s)": entry.article_cpu_s,
            "ours, on the book's data": entry.ours() if entry.ours else "—", "published": entry.published,
        })  # fmt: skip
    table = pd.DataFrame(rows).set_index("model")
    if latency is not False:
        if isinstance(latency, LatencyRecord):
            median_ms = latency.median_ms
        else:
            median_ms = {name: t.median_ms for name, t in measure_entries(entries, repeats=repeats, warmup=warmup).items()}
        table.insert(table.columns.get_loc("article: CPU (s)"), "CPU latency (ms)", [median_ms[name] for name in table.index])
    return table
