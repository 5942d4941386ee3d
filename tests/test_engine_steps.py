"""The engine's training step: it waits for the device only every ``log_every`` steps, it still stops a
diverging run (late by at most ``log_every - 1`` steps, keeping the last good checkpoint), and each
batch is checked where it enters the run. Where and how to train is one ``Runtime``."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from mnv3lib.data import MiniCocoScenes, SemanticScenes, ShapesDataset
from mnv3lib.data.splits import minicoco_splits
from mnv3lib.engine import Runtime, fit
from mnv3lib.engine.checkpoint import load_checkpoint
from mnv3lib.engine.classification import ClassificationConfig, ClassificationTask
from mnv3lib.engine.detection import DetectionConfig
from mnv3lib.engine.loop import run
from mnv3lib.engine.segmentation import SegmentationConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": "mobilenet_v3_small", "width_mult": 0.25, "batch_size": 4, "eval_batch_size": 16, "epochs": 2,
        "train_crop_size": 28, "val_resize_size": 32, "val_crop_size": 28, "lr": 0.01}  # fmt: skip


def _shapes(train: int = 32, val: int = 8) -> tuple[ShapesDataset, ShapesDataset]:
    return ShapesDataset("train", size=train, image_size=32), ShapesDataset("val", size=val, image_size=32)


def _host_reads() -> object:
    """benchmarks/host_reads.py, which counts the reads of tensor values inside the training steps."""
    spec = importlib.util.spec_from_file_location("host_reads", ROOT / "benchmarks" / "host_reads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------------
# Host reads
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("log_every", "reads"), [(3, 3 + 1), (50, 1 + 1)])
def test_a_classification_epoch_reads_the_device_once_per_log_interval(log_every: int, reads: int) -> None:
    """8 steps: a finite check after steps 3, 6 and 8 (or only 8), and one read of the epoch's sums."""
    counting = _host_reads().counting_host_reads
    with counting() as counts:
        fit(ClassificationConfig(**TINY), *_shapes(), runtime=Runtime("cpu", log_every=log_every), stop_after_epoch=1, eval_every=2)
    assert sum(counts.values()) == reads, counts
    assert all("mnv3lib/engine/loop.py" in origin for origin in counts), counts  # no model check reads the batch


def test_the_counter_sees_a_read_in_a_step() -> None:
    """So that the test above can fail: a task that reads its loss every step is counted."""

    class Reading(ClassificationTask):
        def loss(self, model, batch):  # type: ignore[no-untyped-def]
            losses, size, statistics = super().loss(model, batch)
            losses["loss"].item()
            return losses, size, statistics

    with _host_reads().counting_host_reads() as counts:
        run(Reading(ClassificationConfig(**TINY)), *_shapes(), runtime=Runtime("cpu"), stop_after_epoch=1, eval_every=2)
    assert sum(counts.values()) == 2 + 8


def test_detection_and_segmentation_steps_leave_the_checks_to_the_collate() -> None:
    """The book's detectors and segmenters check their inputs in forward, with value reads; inside the
    engine's step they do not: the collate checked the batch on the CPU. TorchVision's own reads stay."""
    counting = _host_reads().counting_host_reads
    detection = DetectionConfig(model="fasterrcnn_mobilenet_v3_large_fpn", min_size=64, max_size=64, epochs=2, batch_size=2, warmup_iters=1,
                                rpn_pre_nms_top_n_train=50, rpn_post_nms_top_n_train=20, box_batch_size_per_image=16)  # fmt: skip
    segmentation = SegmentationConfig(image_size=32, epochs=2, batch_size=2)
    for config, data in ((detection, minicoco_splits(4, 2, image_size=64)), (segmentation, minicoco_splits(4, 2, image_size=64, semantic=True))):
        with counting() as counts:
            fit(config, *data, runtime=Runtime("cpu"), stop_after_epoch=1, eval_every=2)
        ours = {origin: n for origin, n in counts.items() if origin.startswith("mnv3lib")}
        assert sum(ours.values()) == 2 and all("engine/loop.py" in origin for origin in ours), counts


# --------------------------------------------------------------------------------------------------
# Divergence, seen late
# --------------------------------------------------------------------------------------------------
class DivergesAtStep(ClassificationTask):
    """Classification whose loss turns infinite from the ``bad``-th step of epoch 2 on, with a learning
    rate that differs at every step (so the record says which step it was), counting optimizer steps."""

    def __init__(self, config: ClassificationConfig, bad: int) -> None:
        super().__init__(config)
        self.bad, self.calls, self.updates = bad, 0, 0

    def lr_factor(self, epoch: int, iteration: int, steps: int) -> float:
        return 1 / (1 + epoch * steps + iteration)

    def loss(self, model, batch):  # type: ignore[no-untyped-def]
        losses, size, statistics = super().loss(model, batch)
        self.calls += 1
        if self.calls >= 8 + self.bad:  # 8 steps per epoch
            losses = {"loss": losses["loss"] * math.inf}
        return losses, size, statistics

    def after_step(self, model, step):  # type: ignore[no-untyped-def]
        self.updates += 1


@pytest.mark.parametrize("log_every", [1, 4])
def test_a_diverging_run_stops_within_log_every_steps_and_keeps_its_checkpoint(tmp_path: Path, log_every: int) -> None:
    task = DivergesAtStep(ClassificationConfig(**(TINY | {"epochs": 3})), bad=2)  # the 2nd step of epoch 2 (step 10 of the run)
    result = run(task, *_shapes(), runtime=Runtime("cpu", log_every=log_every), output_dir=tmp_path)
    assert result.diverged and len(result.history) == 2 and math.isnan(result.history[-1].train_loss)
    assert result.history[-1].lr == pytest.approx(0.01 / 10)  # the lr of the step whose loss was not finite
    checked_at = 8 + log_every * math.ceil(2 / log_every)  # the first check at or after step 10 of the run
    assert task.updates == checked_at - 1  # the checking step is not applied; those before it are
    assert 0 <= task.updates + 1 - (8 + 2) <= log_every - 1  # seen at most log_every - 1 steps late
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["epoch"] == 1 and all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


# --------------------------------------------------------------------------------------------------
# Data checked where it enters
# --------------------------------------------------------------------------------------------------
class Spoiled(Dataset):
    """``dataset`` with item ``index`` changed by ``spoil``."""

    def __init__(self, dataset: Dataset, index: int, spoil) -> None:  # type: ignore[no-untyped-def]
        self.dataset, self.index, self.spoil = dataset, index, spoil
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):  # type: ignore[no-untyped-def]
        item = self.dataset[index]
        return self.spoil(*item) if index == self.index else item


def _nan_image(image: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
    return torch.full((3, 32, 32), float("nan")), label


def _label_99(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    return image, {**target, "labels": torch.full_like(target["labels"], 99)}


def _mask_99(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return image, tv_tensors.Mask(torch.full_like(mask, 99))


def test_bad_samples_are_refused_as_the_batch_is_made() -> None:
    """What the models' forward checks caught in every step is caught by the collate, once per sample."""
    train, val = _shapes(8)
    with pytest.raises(ValueError, match="images have NaN or infinite values"):
        fit(ClassificationConfig(**TINY), Spoiled(train, 0, _nan_image), val, device="cpu")
    scenes = MiniCocoScenes("train", size=4, image_size=64), MiniCocoScenes("val", size=2, image_size=64)
    detection = DetectionConfig(model="fasterrcnn_mobilenet_v3_large_320_fpn", min_size=64, max_size=64, batch_size=2, epochs=1)
    with pytest.raises(ValueError, match=r"labels \[99\]: expected 1 .. 6"):
        fit(detection, Spoiled(scenes[0], 1, _label_99), scenes[1], device="cpu")
    semantic = [SemanticScenes(split) for split in scenes]
    with pytest.raises(ValueError, match=r"masks contain class ids \[99\] outside \[0, 7\)"):
        fit(SegmentationConfig(image_size=32, batch_size=2, epochs=1), Spoiled(semantic[0], 2, _mask_99), semantic[1], device="cpu")


# --------------------------------------------------------------------------------------------------
# One runtime object
# --------------------------------------------------------------------------------------------------
def test_the_runtime_is_checked_once_and_given_once() -> None:
    runtime = Runtime("cpu", amp=True)
    assert runtime.device == torch.device("cpu") and runtime.record() == {
        "device": "cpu", "processes": 1, "amp": True, "channels_last": False, "compile": False, "sync_bn": False}  # fmt: skip
    with pytest.raises(TypeError, match="amp to be True or False"):
        Runtime("cpu", amp="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log_every >= 1"):
        Runtime("cpu", log_every=0)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        Runtime("gpu")
    with pytest.raises(ValueError, match="not both"):
        fit(ClassificationConfig(**TINY), *_shapes(), runtime=runtime, amp=True)
    with pytest.raises(TypeError, match="expected runtime to be a Runtime"):
        run(ClassificationTask(ClassificationConfig(**TINY)), *_shapes(), runtime="cpu")  # type: ignore[arg-type]


def test_qat_refuses_mixed_precision() -> None:
    from mnv3lib.engine.quantization import fit_qat
    from mnv3lib.models import quantization

    float_model = quantization.mobilenet_v3_small(num_classes=10, width_mult=0.25)
    with pytest.raises(ValueError, match="amp is not offered for QATTask: fake-quantization"):
        fit_qat(float_model, ClassificationConfig(**TINY), *_shapes(), runtime=Runtime("cpu", amp=True))
    with pytest.raises(ValueError, match="not both"):
        fit_qat(float_model, ClassificationConfig(**TINY), *_shapes(), runtime=Runtime("cpu"), device="cpu")


def test_python_m_mnv3lib_cli_runs_the_command_line() -> None:
    """``python -m mnv3lib.cli`` runs the command line and exits with its status."""
    done = subprocess.run([sys.executable, "-m", "mnv3lib.cli", "classification", "--dataset", "shapes", "--device", "tpu", "--output-dir", "unused"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "--device: unknown device 'tpu'" in done.stderr, done.stderr
