"""Host reads per training step, by task: how often the engine's step waits for the device.

A host read is Python asking for a tensor's value (``.item()``, ``.tolist()``, ``bool(t)``, ``float(t)``,
``int(t)``, ``t.__index__()``, ``torch.equal``, ``torch.allclose``, ``torch.is_nonzero``). On a GPU each one
waits until the device has caught up; on the CPU it costs little, but it is counted the same, so the
count measured here is the count a GPU would see. Only the reads made inside the engine's
``train_one_epoch`` are counted, and not those made while the DataLoader fetches and collates a batch:
those read the batch on the CPU, before it goes to the device. Each read is attributed to the innermost
frame in ``mnv3lib`` (the engine's own, or our models' checks) or in TorchVision (its detectors read
values of their own, e.g. to reject degenerate boxes).

Not counted: what syncs without a Python-level read, such as ``nonzero``, boolean-mask indexing and
NMS, which TorchVision's detectors use in every step. The count is a floor for those models.

It uses only ``mnv3lib.engine.fit``, so it runs on any version of the engine::

    python benchmarks/host_reads.py                               # this checkout
    PYTHONPATH=/path/to/other/checkout python benchmarks/host_reads.py   # another one
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

# The Tensor methods and torch functions that hand a tensor's value to Python.
TENSOR_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")
TORCH_READS = ("equal", "allclose", "is_nonzero")


def _in_training_step(frame: Any) -> bool:
    """Whether ``frame`` runs inside the engine's ``train_one_epoch``, outside the DataLoader."""
    inside = False
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        if "torch/utils/data/" in path:
            return False
        if frame.f_code.co_name == "train_one_epoch" and "mnv3lib/engine/" in path:
            inside = True
        frame = frame.f_back
    return inside


def _origin(frame: Any) -> str:
    """Where a read comes from: the innermost frame in mnv3lib or TorchVision, passing over torch's own
    (``Tensor.__format__`` reads for the code that formats the tensor)."""
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        if "/mnv3lib/" in path:
            return f"mnv3lib/{path.split('/mnv3lib/', 1)[1]}:{frame.f_code.co_name}"
        if "/torchvision/" in path:
            return f"torchvision/{path.split('/torchvision/', 1)[1]}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "torch"


@contextlib.contextmanager
def counting_host_reads() -> Iterator[collections.Counter]:
    """Count the host reads made inside the engine's training steps while the block runs, by origin."""
    counts: collections.Counter = collections.Counter()
    originals: list[tuple[object, str, Callable]] = []

    def counted(original: Callable) -> Callable:
        def read(*args: Any, **kwargs: Any) -> Any:
            frame = inspect.currentframe().f_back  # the caller of the read
            if _in_training_step(frame):
                device = args[0].device.type if args and isinstance(args[0], torch.Tensor) else "?"
                counts[f"{_origin(frame)} [{device}]"] += 1  # reads of CPU tensors do not wait for a GPU
            return original(*args, **kwargs)

        return read

    for owner, names in ((torch.Tensor, TENSOR_READS), (torch, TORCH_READS)):
        for name in names:
            original = getattr(owner, name)
            originals.append((owner, name, original))
            setattr(owner, name, counted(original))
    try:
        yield counts
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _setups() -> dict[str, Callable[[], tuple[Any, Any, Any]]]:
    """Each task's ``(config, train set, val set)``: the book's settings, at sizes that run in seconds."""
    from mnv3lib.data.splits import minicoco_splits, shapes_splits
    from mnv3lib.engine.classification import ClassificationConfig
    from mnv3lib.engine.detection import DetectionConfig
    from mnv3lib.engine.segmentation import SegmentationConfig

    def classification() -> tuple[Any, Any, Any]:
        config = ClassificationConfig(model="mobilenet_v3_small", epochs=2, batch_size=32, train_crop_size=56, val_resize_size=64,
                                      val_crop_size=56, train_min_scale=0.35, lr=0.004)  # fmt: skip
        return (config, *shapes_splits(128, 32))

    def keypoint_rcnn() -> tuple[Any, Any, Any]:  # the book's detector (BOOK_DETECTOR), at 128 px
        config = DetectionConfig(model="keypointrcnn_mobilenet_v3_large_fpn", min_size=128, max_size=128, epochs=2, batch_size=8)
        return (config, *minicoco_splits(16, 4, image_size=128))

    def ssdlite() -> tuple[Any, Any, Any]:
        config = DetectionConfig(model="ssdlite320_mobilenet_v3_large", epochs=2, batch_size=8, data_augmentation="ssd")
        return (config, *minicoco_splits(16, 4, image_size=128))

    def segmentation() -> tuple[Any, Any, Any]:
        config = SegmentationConfig(model="lraspp_mobilenet_v3_large", image_size=64, epochs=2, batch_size=8)
        return (config, *minicoco_splits(16, 4, image_size=64, semantic=True))

    return {"classification": classification, "keypoint_rcnn": keypoint_rcnn, "ssdlite": ssdlite, "segmentation": segmentation}


def count(task: str, device: str = "cpu") -> tuple[int, collections.Counter]:
    """``(steps, reads by origin)`` of one epoch of ``task`` on ``device`` (no evaluation, nothing written)."""
    from mnv3lib.engine import fit

    config, train_set, val_set = _setups()[task]()
    with counting_host_reads() as counts:
        fit(config, train_set, val_set, stop_after_epoch=1, eval_every=2, device=device)
    return len(train_set) // config.batch_size, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(_setups()), choices=list(_setups()))
    parser.add_argument("--device", default="cpu", help="where to train: on a GPU, each read says whether it waited for it ([cuda])")
    args = parser.parse_args(argv)
    import mnv3lib

    print(f"mnv3lib from {Path(mnv3lib.__file__).parent}; torch {torch.__version__}")
    for task in args.tasks:
        steps, counts = count(task, args.device)
        ours = sum(n for origin, n in counts.items() if origin.startswith("mnv3lib"))
        print(f"{task}: {steps} steps, {sum(counts.values())} host reads ({sum(counts.values()) / steps:.2f} per step; "
              f"mnv3lib's {ours / steps:.2f}, torch's and TorchVision's {(sum(counts.values()) - ours) / steps:.2f})")  # fmt: skip
        for origin, n in counts.most_common():
            print(f"    {n / steps:6.2f} per step  {origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
