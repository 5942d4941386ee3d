"""Bad input gets a named error before any compute, and runs never lose work: one table, one row per
case (what is called → the exception type and a fragment of its message). Add a row to add a case."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from mnv3lib.cli import main as cli
from mnv3lib.data import PERSON_KEYPOINTS, MiniCocoScenes, ShapesDataset, SemanticScenes
from mnv3lib.engine import fit
from mnv3lib.book.artifacts import load_book_classifier
from mnv3lib.engine.checkpoint import average_checkpoints, load_checkpoint, load_features, save_checkpoint
from mnv3lib.engine.classification import ClassificationConfig
from mnv3lib.engine.detection import DetectionConfig
from mnv3lib.engine import distributed
from mnv3lib.engine.loop import LOCK_FILE, check_data, run_files
from mnv3lib.engine.segmentation import SegmentationConfig
from mnv3lib.engine.segmentation import checked_collate as segmentation_collate
from mnv3lib.models import WeightsUnavailableError

TINY = {"model": "mobilenet_v3_small", "width_mult": 0.25, "batch_size": 8, "eval_batch_size": 16, "epochs": 2,
        "train_crop_size": 28, "val_resize_size": 32, "val_crop_size": 28, "lr": 0.01}  # fmt: skip


def _shapes(train: int = 16, val: int = 8, seed: int = 0) -> tuple[ShapesDataset, ShapesDataset]:
    return ShapesDataset("train", size=train, image_size=32, seed=seed), ShapesDataset("val", size=val, image_size=32, seed=seed)


def _config(**changes: object) -> ClassificationConfig:
    return ClassificationConfig(**(TINY | changes))


# (id, call, exception type, message fragment)
CONFIG_ROWS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("classification on batches of one", lambda: _config(batch_size=1), ValueError, "batch_size >= 2: BatchNorm"),
    ("negative lr_gamma", lambda: _config(lr_gamma=-1), ValueError, "lr_gamma in (0.0, 1.0]"),
    ("lr inf", lambda: _config(lr=float("inf")), ValueError, "lr to be a finite number"),
    ("lr nan", lambda: _config(lr=float("nan")), ValueError, "lr to be a finite number"),
    ("model_ema_decay 2", lambda: _config(model_ema_decay=2.0), ValueError, "model_ema_decay in (0.0, 1.0)"),
    ("dropout as text", lambda: _config(dropout="0.2"), TypeError, "dropout to be a number"),
    ("width_mult nan", lambda: _config(width_mult=float("nan")), ValueError, "width_mult to be a finite number"),
    ("negative weight decay", lambda: _config(weight_decay=-1e-5), ValueError, "weight_decay in [0.0, ∞)"),
    ("momentum 1", lambda: _config(momentum=1.0), ValueError, "momentum in [0.0, 1.0)"),
    ("detection lr_gamma 0", lambda: DetectionConfig(lr_gamma=0.0), ValueError, "lr_gamma in (0.0, 1.0]"),
    ("detection trainable layers 7", lambda: DetectionConfig(trainable_backbone_layers=7), ValueError, "trainable_backbone_layers in 0..6"),
    ("DeepLabV3 on batches of one", lambda: SegmentationConfig(model="deeplabv3_mobilenet_v3_large", batch_size=1), ValueError, "cannot train on batch_size 1"),
    ("segmentation weight decay inf", lambda: SegmentationConfig(weight_decay=float("inf")), ValueError, "weight_decay in [0.0, ∞)"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), [row[1:] for row in CONFIG_ROWS], ids=[row[0] for row in CONFIG_ROWS])
def test_bad_config_values_are_named(call, error, fragment) -> None:
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        call()


def _refuse(tmp_path: Path, call: Callable[[Path], object], error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        call(tmp_path)


RUN_ROWS: list[tuple[str, Callable[[Path], object], type[Exception], str]] = [
    ("empty validation set", lambda d: fit(_config(), ShapesDataset("train", size=16, image_size=32), torch.utils.data.Subset(ShapesDataset("val", size=4, image_size=32), [])), ValueError, "validation set is empty"),
    ("batch larger than the training set", lambda d: fit(_config(batch_size=32), *_shapes(16)), ValueError, "16 items, fewer than batch_size 32"),
    ("unwritable output folder", lambda d: fit(_config(), *_shapes(), output_dir="/proc/mnv3lib-run"), PermissionError, "cannot write the run into /proc/mnv3lib-run"),
    ("an output folder that is a file", lambda d: (d.joinpath("file").write_text(""), fit(_config(), *_shapes(), output_dir=d / "file" / "run")), PermissionError, "cannot write the run"),
    ("empty checkpoint file", lambda d: (d.joinpath("checkpoint.pt").write_bytes(b""), fit(_config(), *_shapes(), resume=d / "checkpoint.pt")), ValueError, "not a readable checkpoint .0 bytes"),
    ("truncated checkpoint file", lambda d: (save_checkpoint({"model": {"w": torch.zeros(1000)}}, d / "c.pt"), d.joinpath("c.pt").write_bytes(d.joinpath("c.pt").read_bytes()[:300]), load_checkpoint(d / "c.pt")), ValueError, "is not a readable checkpoint"),
    ("a weights file given to resume", lambda d: (save_checkpoint({"model": {}}, d / "w.pt"), fit(_config(), *_shapes(), resume=d / "w.pt")), ValueError, "not a training checkpoint"),
    ("a three-item list as the training set", lambda d: fit(_config(), [1, 2, 3], _shapes()[1]), ValueError, "fewer than batch_size"),
    # Side doors into another run's folder (issue 29, 1)
    ("resume into a folder that holds another run", lambda d: (fit(_config(epochs=1), *_shapes(), output_dir=d / "a"), fit(_config(epochs=1), *_shapes(), output_dir=d / "b"),
                                                               fit(_config(epochs=1), *_shapes(), output_dir=d / "b", resume=d / "a" / "checkpoint.pt")),
     FileExistsError, r"resuming .*a/checkpoint.pt into .*b, but that folder already holds a run \(checkpoint.pt"),
    ("overwrite given as a string", lambda d: fit(_config(), *_shapes(), output_dir=d, overwrite="no"), TypeError, "expected overwrite to be True or False, got 'no'"),
    ("a folder with history.json and no checkpoint", lambda d: (d.joinpath("history.json").write_text("{}"), fit(_config(), *_shapes(), output_dir=d)),
     FileExistsError, r"already holds a run \(history.json\): replace it"),
    ("a folder another live run is writing into", lambda d: (d.joinpath(LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "now"})),
                                                             fit(_config(), *_shapes(), output_dir=d)), FileExistsError, f"another run is writing into .* \\(process {os.getpid()} on"),
    ("a 300-character folder name", lambda d: fit(_config(), *_shapes(), output_dir=d / ("x" * 300)), ValueError, "a name in it is too long for the file system"),
    # Work lost after the compute (issue 29, 2): refused before it
    ("resume of an average_last run whose kept checkpoint is gone", lambda d: (fit(_config(epochs=3, average_last=2), *_shapes(), output_dir=d / "a", stop_after_epoch=1),
                                                                               [p.unlink() for p in (d / "a").glob("improved_*.pt")],
                                                                               fit(_config(epochs=3, average_last=2), *_shapes(), output_dir=d / "b", resume=d / "a" / "checkpoint.pt")),
     FileNotFoundError, r"keeps improved_0001.pt to average \(average_last\), which is not beside it"),
    # Custom data (issue 29, 5)
    ("classification labels out of range", lambda d: fit(_config(), Relabelled(_shapes()[0], lambda y: y + 10), _shapes()[1]), ValueError, r"labels \[1\d.*\] are outside \[0, 10\)"),
    ("classification labels as floats", lambda d: fit(_config(), Relabelled(_shapes()[0], float), _shapes()[1]), TypeError, "expected the labels to be integer class ids"),
    ("binary masks stored as 0/255", lambda d: fit(SegmentationConfig(image_size=32, epochs=1, batch_size=4), Relabelled(_scenes("train"), lambda m: (m > 0).to(torch.uint8) * 255),
                                                  _scenes("val")), ValueError, "hold only 0 and 255: 255 is the ignore index"),
    ("a batch of masks that are all 255", lambda d: segmentation_collate([(torch.rand(3, 8, 8), torch.full((8, 8), 255))] * 2, num_classes=3), ValueError,
     "no labelled pixel .every value is 255"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), [row[1:] for row in RUN_ROWS], ids=[row[0] for row in RUN_ROWS])
def test_bad_runs_fail_before_any_step(tmp_path: Path, call, error, fragment) -> None:
    _refuse(tmp_path, call, error, fragment)


class Relabelled(torch.utils.data.Dataset):
    """A dataset with its targets (labels or masks) passed through ``change``: custom data gone wrong."""

    def __init__(self, dataset: torch.utils.data.Dataset, change: Callable[[object], object]) -> None:
        self.dataset, self.change, self.classes = dataset, change, dataset.classes

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[object, object]:
        image, target = self.dataset[index]
        if isinstance(target, int):
            return image, self.change(target)
        return image, tv_tensors.Mask(self.change(torch.as_tensor(np.asarray(target))))


def _scenes(split: str, size: int = 8) -> SemanticScenes:
    return SemanticScenes(MiniCocoScenes(split, size=size, image_size=32))


def test_integer_masks_of_any_width_train(tmp_path: Path) -> None:
    """uint8 and int32 masks (as read from PNG files) train: the collate makes them int64."""
    for dtype in (torch.uint8, torch.int32):
        result = fit(SegmentationConfig(image_size=32, epochs=1, batch_size=4), Relabelled(_scenes("train"), lambda m: m.to(dtype)), _scenes("val"))
        assert not result.diverged and math.isfinite(result.history[-1].losses["loss"])


def test_zero_steps_per_process_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun each process takes len // processes items: 20 items, 2 processes and batches of 16
    would train nothing; the check counts per process (the torchrun test below runs it for real)."""
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match=r"20 items \(10 for each of 2 processes\), fewer than batch_size 16"):
        check_data(_config(batch_size=16), *_shapes(20))


def test_overwrite_replaces_the_whole_old_run_and_only_it(tmp_path: Path) -> None:
    """--overwrite deletes the old run's files (checkpoint, kept checkpoints, averaged weights, history)
    and leaves other files alone; temporary files of a killed save go too, and the lock is released."""
    fit(_config(epochs=2, average_last=2), *_shapes(), output_dir=tmp_path)
    for name in ("averaged.pt", "history.json", ".checkpoint.pt.abc123.tmp", "notes.txt"):
        tmp_path.joinpath(name).write_text("x")
    assert {"improved_0001.pt", "averaged.pt", "history.json"} <= set(run_files(tmp_path))
    fit(_config(epochs=1), *_shapes(), output_dir=tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "notes.txt"]


def test_a_stale_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    """A run killed on this machine leaves its lock; a dead process's lock does not block its resume."""
    fit(_config(epochs=2), *_shapes(), output_dir=tmp_path, stop_after_epoch=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({"pid": int(dead), "host": socket.gethostname(), "since": "then"}))
    result = fit(_config(epochs=2), *_shapes(), output_dir=tmp_path, resume=tmp_path / "checkpoint.pt")
    assert len(result.history) == 2 and not tmp_path.joinpath(LOCK_FILE).exists()


def test_average_last_resumes_into_a_new_folder_or_into_memory(tmp_path: Path) -> None:
    """The kept checkpoints follow a resumed run: copied into its new folder, or loaded when it writes
    nothing; both end with the average an uninterrupted run gets."""
    config = _config(epochs=3, average_last=2)
    whole = fit(config, *_shapes(), output_dir=tmp_path / "whole")
    fit(config, *_shapes(), output_dir=tmp_path / "a", stop_after_epoch=2)
    moved = fit(config, *_shapes(), output_dir=tmp_path / "b", resume=tmp_path / "a" / "checkpoint.pt")
    in_memory = fit(config, *_shapes(), resume=tmp_path / "a" / "checkpoint.pt")
    assert moved.extras["averaged"] == whole.extras["averaged"] == in_memory.extras["averaged"]
    assert set(run_files(tmp_path / "b")) >= {f"improved_{e:04d}.pt" for e in whole.extras["averaged"]["epochs"] if e <= 2}


def test_a_finished_run_is_never_overwritten_silently(tmp_path: Path) -> None:
    first = fit(_config(epochs=1), *_shapes(), output_dir=tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run"):
        fit(_config(epochs=1, lr=0.02), *_shapes(), output_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    again = fit(_config(epochs=1, lr=0.02), *_shapes(), output_dir=tmp_path, overwrite=True)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["lr"] == 0.02 and first.history and again.history


def test_resume_refuses_other_data_and_another_task(tmp_path: Path) -> None:
    fit(_config(), *_shapes(), output_dir=tmp_path, stop_after_epoch=1)
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(ValueError, match=r"other data \(train size: 16 → 24"):
        fit(_config(), *_shapes(24), resume=checkpoint)
    with pytest.raises(ValueError, match=r"other data \(train sha256"):
        fit(_config(), *_shapes(seed=1), resume=checkpoint)
    with pytest.raises(ValueError, match="made for another task than SegmentationConfig"):
        scenes = [SemanticScenes(MiniCocoScenes(split, size=8, image_size=32)) for split in ("train", "val")]
        fit(SegmentationConfig(image_size=32, epochs=2, batch_size=4), *scenes, resume=checkpoint)


def test_a_moved_run_resumes_and_averages(tmp_path: Path) -> None:
    config = _config(epochs=3, average_last=2)
    fit(config, *_shapes(), output_dir=tmp_path / "here", stop_after_epoch=2)
    shutil.move(tmp_path / "here", tmp_path / "there")
    result = fit(config, *_shapes(), output_dir=tmp_path / "there", resume=tmp_path / "there" / "checkpoint.pt")
    assert result.extras["averaged"]["epochs"]


def test_qat_resumes_only_under_its_own_backend_and_schedule(tmp_path: Path) -> None:
    from mnv3lib.engine.quantization import fit_qat
    from mnv3lib.models import quantization

    float_model = quantization.mobilenet_v3_small(num_classes=10, width_mult=0.25)
    fit_qat(float_model, _config(), *_shapes(), backend="x86", output_dir=tmp_path, stop_after_epoch=1)
    with pytest.raises(ValueError, match="other QAT settings .observer_epochs 4 → 1"):
        fit_qat(float_model, _config(), *_shapes(), backend="x86", observer_epochs=1, resume=tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="other QAT settings .backend 'x86' → 'qnnpack'"):
        fit_qat(float_model, _config(), *_shapes(), backend="qnnpack", resume=tmp_path / "checkpoint.pt")


CLI_ROWS: list[tuple[str, list[str], str]] = [
    ("negative lr gamma", ["--lr-gamma", "-1"], "--lr-gamma: expected lr_gamma in"),
    ("lr inf", ["--lr", "inf"], "--lr: expected lr to be a finite number"),
    ("ema decay 2", ["--model-ema-decay", "2"], "--model-ema-decay: expected model_ema_decay in"),
    ("shapes with a data path", ["--data-path", "/nowhere"], "--data-path /nowhere is not read with --dataset shapes"),
    ("batch larger than the data", ["-b", "64"], "--batch-size: the training set has 16 items"),
    ("negative average-last", ["--average-last", "-1"], "--average-last: expected average_last >= 0, got -1"),
]


@pytest.mark.parametrize(("flags", "fragment"), [row[1:] for row in CLI_ROWS], ids=[row[0] for row in CLI_ROWS])
def test_cli_names_the_flag_and_the_value(tmp_path: Path, capsys, flags: list[str], fragment: str) -> None:
    base = ["classification", "--dataset", "shapes", "--shapes-train-size", "16", "--shapes-val-size", "8", "--width-mult", "0.25", "-b", "8", "--epochs", "1", "--output-dir", str(tmp_path / "run")]
    assert cli(base + flags) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_cli_counts_are_checked_by_argparse(capsys) -> None:
    with pytest.raises(SystemExit):
        cli(["classification", "--dataset", "shapes", "--shapes-train-size", "0", "--output-dir", "x"])
    assert "argument --shapes-train-size: expected an int >= 1, got 0" in capsys.readouterr().err


# ---- models and their inputs --------------------------------------------------------------------
@pytest.fixture(scope="module")
def detectors() -> dict[str, torch.nn.Module]:
    from mnv3lib.models import detection

    return {"boxes": detection.fasterrcnn_mobilenet_v3_large_320_fpn(num_classes=3).train(),
            "keypoints": detection.keypointrcnn_mobilenet_v3_large_fpn(num_classes=2, num_keypoints=5, light_head=True).train()}  # fmt: skip


IMAGE = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
BOX = torch.tensor([[4.0, 4.0, 40.0, 40.0]])
GOOD = {"boxes": BOX, "labels": torch.tensor([1])}
PERSON = {"boxes": BOX, "labels": torch.tensor([1]), "keypoints": torch.rand(1, 5, 3) * 30}

# (id, model, images, targets, exception type, message fragment)
DETECTION_ROWS = [
    ("2 labels for 1 box", "boxes", [IMAGE], [{**GOOD, "labels": torch.tensor([1, 2])}], ValueError, "one label per box"),
    ("label 0 (the background)", "boxes", [IMAGE], [{**GOOD, "labels": torch.tensor([0])}], ValueError, r"labels \[0\]: expected 1 .. 2"),
    ("label -1", "boxes", [IMAGE], [{**GOOD, "labels": torch.tensor([-1])}], ValueError, r"labels \[-1\]"),
    ("label >= num_classes", "boxes", [IMAGE], [{**GOOD, "labels": torch.tensor([3])}], ValueError, r"labels \[3\]: expected 1 .. 2"),
    ("float labels", "boxes", [IMAGE], [{**GOOD, "labels": torch.tensor([1.0])}], TypeError, "labels to be integers"),
    ("a box outside the image", "boxes", [IMAGE], [{**GOOD, "boxes": torch.tensor([[70.0, 70.0, 90.0, 90.0]])}], ValueError, "entirely outside its 64×64 image"),
    ("NaN boxes", "boxes", [IMAGE], [{**GOOD, "boxes": torch.tensor([[float("nan"), 4.0, 40.0, 40.0]])}], ValueError, "NaN or infinite boxes"),
    ("no images", "boxes", [], [], ValueError, "at least one image"),
    ("a 0×0 image", "boxes", [torch.rand(3, 0, 0)], None, ValueError, r"H, W >= 1, got \(3, 0, 0\)"),
    ("a NaN image", "boxes", [torch.full((3, 8, 8), float("nan"))], None, ValueError, "image 0 has NaN"),
    ("3 keypoints on a 5-keypoint model", "keypoints", [IMAGE], [{**PERSON, "keypoints": torch.rand(1, 3, 3)}], ValueError, r"keypoints of shape \(1, 5, 3\)"),
    ("NaN keypoints", "keypoints", [IMAGE], [{**PERSON, "keypoints": torch.full((1, 5, 3), float("nan"))}], ValueError, "NaN or infinite keypoints"),
]


@pytest.mark.parametrize(("model", "images", "targets", "error", "fragment"), [row[1:] for row in DETECTION_ROWS], ids=[row[0] for row in DETECTION_ROWS])
def test_detection_inputs_are_checked(detectors, model, images, targets, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        detectors[model](images, targets)


@pytest.mark.parametrize(("model", "images", "targets", "error", "fragment"), [row[1:] for row in DETECTION_ROWS if row[2]],
                         ids=[row[0] for row in DETECTION_ROWS if row[2]])  # fmt: skip
def test_the_engine_catches_them_where_the_batch_is_made(detectors, model, images, targets, error, fragment) -> None:
    """The engine trains inside inputs_checked, where forward reads no values: its collate checks each
    sample instead, with the model's own input checks (an empty batch is never collated)."""
    from mnv3lib.engine.detection import checked_collate

    targets = targets or [PERSON if model == "keypoints" else GOOD] * len(images)
    with pytest.raises(error, match=fragment):
        checked_collate(list(zip(images, targets)), **detectors[model].input_checks())


def _builder_rows() -> list[tuple[str, Callable[[], object], type[Exception], str]]:
    from mnv3lib.models import detection, mobilenet_v3_small, quantization, segmentation
    from mnv3lib.engine.segmentation import segmentation_loss

    small = mobilenet_v3_small(num_classes=10, width_mult=0.25).eval()
    float_q = quantization.mobilenet_v3_small(num_classes=10, width_mult=0.25)
    batch = [torch.rand(2, 3, 32, 32)]
    return [
        ("detector with num_classes 0", lambda: detection.fasterrcnn_mobilenet_v3_large_320_fpn(num_classes=0), ValueError, "num_classes >= 2"),
        ("keypoint model with num_classes 0", lambda: detection.keypointrcnn_mobilenet_v3_large_fpn(num_classes=0), ValueError, "num_classes >= 2"),
        ("segmenter with num_classes 0", lambda: segmentation.lraspp_mobilenet_v3_large(num_classes=0), ValueError, "num_classes >= 2"),
        ("reduced_tail as text", lambda: mobilenet_v3_small(reduced_tail="False"), TypeError, "reduced_tail to be True or False"),
        ("dropout as text", lambda: mobilenet_v3_small(dropout="0.2"), TypeError, "dropout to be a number in"),
        ("stochastic depth as text", lambda: mobilenet_v3_small(stochastic_depth_prob="0.1"), TypeError, "stochastic_depth_prob to be a number in"),
        ("width_mult nan", lambda: mobilenet_v3_small(width_mult=float("nan")), ValueError, "width_mult to be a finite number"),
        ("dilated as an int", lambda: mobilenet_v3_small(dilated=1), TypeError, "dilated to be True or False"),
        ("float64 images", lambda: small(torch.rand(1, 3, 32, 32, dtype=torch.float64)), TypeError, "expected torch.float32 images"),
        ("a NaN image", lambda: small(torch.full((1, 3, 32, 32), float("nan"))), ValueError, "NaN or infinite values"),
        ("masks of the wrong size", lambda: segmentation_loss({"out": torch.rand(2, 3, 8, 8)}, torch.zeros(2, 4, 4, dtype=torch.int64)), ValueError, r"masks of shape \(2, 8, 8\)"),
        ("float masks", lambda: segmentation_loss({"out": torch.rand(2, 3, 8, 8)}, torch.zeros(2, 8, 8)), TypeError, "integer tensor of class ids"),
        ("NaN calibration batches", lambda: quantization.quantize_ptq(float_q, [torch.full((2, 3, 32, 32), float("nan"))]), ValueError, "NaN or infinite"),
        ("an int8 model to quantize", lambda: quantization.quantize_ptq(quantization.quantize_ptq(float_q, batch), batch), TypeError, "already int8"),
        ("a QAT model to prepare again", lambda: quantization.prepare_qat(quantization.prepare_qat(float_q)), TypeError, "already prepared for quantization"),
        ("a plain model to quantize", lambda: quantization.quantize_ptq(small, batch), TypeError, "expected a QuantizableMobileNetV3"),
        # builders: a keyword they do not take is a TypeError, a value out of range a ValueError, at the call
        ("an unknown classification keyword", lambda: mobilenet_v3_small(num_class=10), TypeError, "unexpected keyword argument 'num_class'"),
        ("progress as text", lambda: mobilenet_v3_small(progress="no"), TypeError, "progress to be True or False"),
        ("a norm_layer that is not callable", lambda: mobilenet_v3_small(norm_layer="batchnorm"), TypeError, "norm_layer to be None or a callable"),
        ("quantize as text", lambda: quantization.mobilenet_v3_small(quantize="no"), TypeError, "quantize to be True or False"),
        ("an unknown quantization backend", lambda: quantization.mobilenet_v3_small(backend="arm"), ValueError, "unknown quantization backend 'arm'"),
        ("a typo in a Faster R-CNN keyword", lambda: detection.fasterrcnn_mobilenet_v3_large_fpn(min_sise=300), TypeError,
         "unexpected keyword argument 'min_sise': did you mean 'min_size'"),
        ("R-CNN min_size 0", lambda: detection.fasterrcnn_mobilenet_v3_large_320_fpn(min_size=0), ValueError, "min_size > 0, got 0"),
        ("R-CNN box_score_thresh 5", lambda: detection.fasterrcnn_mobilenet_v3_large_320_fpn(box_score_thresh=5), ValueError, r"box_score_thresh in \[0.0, 1.0\], got 5"),
        ("R-CNN image_std with a zero", lambda: detection.fasterrcnn_mobilenet_v3_large_320_fpn(image_std=[0.2, 0, 0.2]), ValueError, r"image_std\[1\] in \(0.0, ∞\)"),
        ("R-CNN trainable layers 9 from scratch", lambda: detection.fasterrcnn_mobilenet_v3_large_320_fpn(trainable_backbone_layers=9), ValueError, "trainable_backbone_layers <= 6, got 9"),
        ("keypoint R-CNN weights, which TorchVision does not publish", lambda: detection.keypointrcnn_mobilenet_v3_large_fpn(weights="DEFAULT"), ValueError,
         "keypointrcnn_mobilenet_v3_large_fpn has no published weights"),
        ("keypoint R-CNN max_size as text", lambda: detection.keypointrcnn_mobilenet_v3_large_fpn(max_size="800"), TypeError, "max_size to be an int"),
        ("keypoint R-CNN light_head as text", lambda: detection.keypointrcnn_mobilenet_v3_large_fpn(light_head="yes"), TypeError, "light_head to be True or False"),
        ("SSDlite score_thresh 2", lambda: detection.ssdlite320_mobilenet_v3_large(score_thresh=2), ValueError, r"score_thresh in \[0.0, 1.0\], got 2"),
        ("SSDlite positive_fraction 0", lambda: detection.ssdlite320_mobilenet_v3_large(positive_fraction=0), ValueError, r"positive_fraction in \(0.0, 1.0\]"),
        ("a keyword SSDlite does not take", lambda: detection.ssdlite320_mobilenet_v3_large(score_threshold=0.5), TypeError, "did you mean 'score_thresh'"),
        ("LR-ASPP inter_channels 0", lambda: segmentation.lraspp_mobilenet_v3_large(inter_channels=0), ValueError, "inter_channels > 0, got 0"),
        ("a keyword LR-ASPP does not take", lambda: segmentation.lraspp_mobilenet_v3_large(inter_channel=64), TypeError, "unexpected keyword argument 'inter_channel'"),
        ("DeepLabV3 aux_loss as text", lambda: segmentation.deeplabv3_mobilenet_v3_large(aux_loss="no"), TypeError, "aux_loss to be True, False or None"),
        ("DeepLabV3 weights without their aux head", lambda: segmentation.deeplabv3_mobilenet_v3_large(weights="DEFAULT", aux_loss=False), ValueError, "include the auxiliary head"),
        ("FCN weights, which do not exist", lambda: segmentation.fcn_mobilenet_v3_large(weights="DEFAULT"), ValueError, "fcn_mobilenet_v3_large has no published weights"),
        ("FCN dilated as an int", lambda: segmentation.fcn_mobilenet_v3_large(dilated=1), TypeError, "dilated to be True or False"),
    ]


BUILDER_ROWS = _builder_rows()


@pytest.mark.parametrize(("call", "error", "fragment"), [row[1:] for row in BUILDER_ROWS], ids=[row[0] for row in BUILDER_ROWS])
def test_models_refuse_bad_input_with_a_sentence(call, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        call()


# ---- files on disk ------------------------------------------------------------------------------
def _coco(tmp_path: Path, edit: Callable[[dict], object] | None = None, text: str | None = None) -> Path:
    import json

    from mnv3lib.data import export_coco

    paths = export_coco(MiniCocoScenes("val", size=2, image_size=32), tmp_path / "coco")
    if text is not None:
        paths["instances"].write_text(text)
    elif edit is not None:
        data = json.loads(paths["instances"].read_text())
        edit(data)
        paths["instances"].write_text(json.dumps(data))
    return paths


def _keypoints_outside_their_box(data: dict) -> None:
    """One person whose 9 labelled keypoints (mini-COCO's) all lie outside its box, and no other keypoints."""
    for annotation in data["annotations"]:
        annotation.pop("keypoints", None)
    data["annotations"][0].update(bbox=[10, 10, 5, 5], keypoints=[1, 1, 2] * len(PERSON_KEYPOINTS))


def _background_category(data: dict) -> None:
    data["categories"].append({"id": 0, "name": "placeholder"})
    data["annotations"][0]["category_id"] = 0


def _coco_folder(tmp_path: Path, **kwargs: object) -> object:
    from mnv3lib.data.coco import CocoFolder

    paths = _coco(tmp_path, **kwargs)
    return CocoFolder(paths["images"], paths["instances"])


def _corrupt_image_folder(tmp_path: Path, data: bytes) -> object:
    from mnv3lib.data.folders import export_image_folder, image_folder_splits

    train, _ = _shapes(4, 2)
    for split in ("train", "val"):  # the same images in both splits, so that their classes agree
        export_image_folder(train, tmp_path / "folder" / split)
    victim = sorted((tmp_path / "folder" / "train").rglob("*.png"))[0]
    victim.write_bytes(data if data else victim.read_bytes()[: len(victim.read_bytes()) // 2])
    return image_folder_splits(tmp_path / "folder")[0][0]


def _evaluate_without_annotations(tmp_path: Path) -> object:
    from mnv3lib.data import TransformedDataset, detection_transforms
    from mnv3lib.engine.detection import evaluate_coco
    from mnv3lib.models import detection

    folder = _coco_folder(tmp_path, edit=lambda data: data.update(annotations=[]))
    model = detection.fasterrcnn_mobilenet_v3_large_320_fpn(num_classes=7)
    return evaluate_coco(model, TransformedDataset(folder, detection_transforms(train=False), pairs=True))


FILE_ROWS: list[tuple[str, Callable[[Path], object], type[Exception], str]] = [
    ("malformed COCO JSON", lambda d: _coco_folder(d, text="{not json"), ValueError, "instances_val.json is not valid JSON"),
    ("category_id outside the categories", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(category_id=99)), ValueError, "category_id 99, not one of the file's categories"),
    ("an annotation without segmentation", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].pop("segmentation")), ValueError, "has no 'segmentation'"),
    ("an annotation without iscrowd", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].pop("iscrowd")), ValueError,
     r"instances_val.json: annotation 1 \(annotations\[0\]\) has no 'iscrowd'"),
    ("an image without file_name", lambda d: _coco_folder(d, edit=lambda data: data["images"][1].pop("file_name")), ValueError, r"image 1 \(images\[1\]\) has no 'file_name'"),
    ("an empty segmentation", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(segmentation=[])), ValueError, r"has segmentation \[\]: expected its outline"),
    ("a two-point polygon", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(segmentation=[[1, 1, 5, 5]])), ValueError, "at least three points"),
    ("keypoints of the wrong length", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(keypoints=[4, 4, 2])), ValueError,
     "has 3 keypoint values: expected 27, .* each of the 9 keypoints"),
    ("keypoints mostly outside their boxes", lambda d: _coco_folder(d, edit=_keypoints_outside_their_box), ValueError, "9 of its 9 labelled keypoints lie outside"),
    ("annotations given as a dict", lambda d: _coco_folder(d, edit=lambda data: data.update(annotations={"1": data["annotations"][0]})), ValueError,
     "'annotations' is a dict, expected a list"),
    ("a category id of 2e9", lambda d: _coco_folder(d, edit=lambda data: data["categories"][0].update(id=2_000_000_000)), ValueError,
     r"categories\[0\] has id 2000000000: expected an int in 1..10000"),
    ("category_id 0, the background", lambda d: _coco_folder(d, edit=_background_category), ValueError, "category_id 0, which the detectors reserve for the background"),
    ("a repeated annotation id", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][1].update(id=data["annotations"][0]["id"])), ValueError, "repeats the id"),
    ("a NaN box in the validation set", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(bbox=[float("nan"), 1, 4, 4])), ValueError,
     "four finite numbers"),
    ("a box with a negative width", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(bbox=[20, 4, -10, 4])), ValueError, "negative width or height"),
    ("a validation box outside its image", lambda d: _coco_folder(d, edit=lambda data: data["annotations"][0].update(bbox=[40, 40, 4, 4])), ValueError,
     "entirely outside its 32×32 image"),
    ("COCO AP without annotations", _evaluate_without_annotations, ValueError, "ground truth has no annotations"),
    ("a corrupt image in a folder", lambda d: _corrupt_image_folder(d, b"not a png"), ValueError, r"cannot read the image .*\.png"),
    ("a truncated PNG in a folder", lambda d: _corrupt_image_folder(d, b""), ValueError, r"cannot read the image .*\.png"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), [row[1:] for row in FILE_ROWS], ids=[row[0] for row in FILE_ROWS])
def test_bad_files_are_named(tmp_path: Path, call, error, fragment) -> None:
    _refuse(tmp_path, call, error, fragment)


# ---- checkpoints that carry code ---------------------------------------------------------------
class _Payload:
    """Unpickling this runs ``exec``: it writes the file ``marker``, as a crafted checkpoint could do anything."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('the payload ran')",)


def _crafted(directory: Path, name: str = "checkpoint.pt") -> Path:
    """A checkpoint that looks like a classification run's, whose model weights hold the payload."""
    path = directory / name
    torch.save({"model": {"features.0.0.weight": _Payload(directory / "marker")}, "optimizer": {}, "epoch": 1, "config": {}, "history": []}, path)
    return path


def _cached_torchvision_weights(path: Path) -> object:
    """The crafted file in torch.hub's cache (the test's $TORCH_HOME) as the published MobileNetV3-Small
    weights: what a tampered cache would hold."""
    from mnv3lib.models import cached_weights_path, resolve_weights
    from mnv3lib.models.weights import fetch_state_dict

    member = resolve_weights("mobilenet_v3_small", "DEFAULT")
    cached = Path(cached_weights_path(member))
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, cached)
    return fetch_state_dict(member, progress=False)


def _detector_backbone(path: Path) -> None:
    from mnv3lib.engine.detection import load_backbone
    from mnv3lib.models import detection

    load_backbone(detection.fasterrcnn_mobilenet_v3_large_320_fpn(num_classes=3), path)


def _cli_quick(command: str, *flags: str) -> list[str]:
    sizes = {"classification": ["--dataset", "shapes", "--shapes-train-size", "16", "--shapes-val-size", "8", "--width-mult", "0.25", "-b", "8"],
             "detection": ["--scenes-train-size", "4", "--scenes-val-size", "2", "-b", "2", "--min-size", "64", "--max-size", "64"],
             "segmentation": ["--scenes-train-size", "4", "--scenes-val-size", "2", "-b", "2", "--image-size", "32"]}  # fmt: skip
    return [command, *sizes[command], "--epochs", "1", *flags]


# (id, how the file is loaded): every public way a .pt file gets read
LOADING_ROWS: list[tuple[str, Callable[[Path], object]]] = [
    ("load_checkpoint", load_checkpoint),
    ("load_features", lambda path: load_features(torch.nn.Linear(1, 1), path)),
    ("average_checkpoints", lambda path: average_checkpoints([path, path])),
    ("fit(resume=...)", lambda path: fit(_config(), *_shapes(), resume=path)),
    ("a detector's backbone (--weights-backbone)", _detector_backbone),
    ("the book's classifier loader", lambda path: load_book_classifier(path)),
    ("torch.hub's cache of published weights", _cached_torchvision_weights),
    ("the CLI's --resume", lambda path: cli(_cli_quick("classification", "--resume", str(path), "--output-dir", str(path.parent / "run")))),
    ("the CLI's detection --weights-backbone", lambda path: cli(_cli_quick("detection", "--weights-backbone", str(path), "--output-dir", str(path.parent / "run")))),
    ("the CLI's segmentation --weights-backbone", lambda path: cli(_cli_quick("segmentation", "--weights-backbone", str(path), "--output-dir", str(path.parent / "run")))),
]


def test_the_crafted_checkpoint_does_run_code_when_unpickled(tmp_path: Path) -> None:
    """The control: the payload is live, so that the test below can fail."""
    torch.load(_crafted(tmp_path), weights_only=False)
    assert (tmp_path / "marker").read_text() == "the payload ran"


@pytest.mark.parametrize("load", [row[1] for row in LOADING_ROWS], ids=[row[0] for row in LOADING_ROWS])
def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path, monkeypatch, capsys, load: Callable[[Path], object]) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # restored after the test, as torch.hub's cached folder below
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    try:
        status = load(_crafted(tmp_path))
    except (ValueError, WeightsUnavailableError) as error:
        message = str(error)
    else:
        assert status == 2  # the CLI reports in one line
        message = capsys.readouterr().err
    assert "loading it could run code, so it is refused" in message
    assert not (tmp_path / "marker").exists()


# ---- the environment ----------------------------------------------------------------------------
ENVIRONMENT_ROWS: list[tuple[str, str, str]] = [
    ("a download time-out that is not a number", "abc", "MNV3LIB_DOWNLOAD_TIMEOUT='abc' is not a number of seconds"),
    ("an infinite download time-out", "inf", "MNV3LIB_DOWNLOAD_TIMEOUT='inf': expected a finite number of seconds > 0"),
    ("a zero download time-out", "0", "MNV3LIB_DOWNLOAD_TIMEOUT='0': expected a finite number of seconds > 0"),
    ("a negative download time-out", "-1", "MNV3LIB_DOWNLOAD_TIMEOUT='-1': expected a finite number of seconds > 0"),
]


@pytest.mark.parametrize(("value", "fragment"), [row[1:] for row in ENVIRONMENT_ROWS], ids=[row[0] for row in ENVIRONMENT_ROWS])
def test_a_bad_download_timeout_is_named_when_a_download_starts(tmp_path: Path, monkeypatch, value: str, fragment: str) -> None:
    from mnv3lib.models import mobilenet_v3_small

    monkeypatch.setenv("MNV3LIB_DOWNLOAD_TIMEOUT", value)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: the weights must be downloaded
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    mobilenet_v3_small(num_classes=10)  # no download: the variable is not read, and import mnv3lib worked above
    with pytest.raises(ValueError, match=re.escape(fragment)):
        mobilenet_v3_small(weights="DEFAULT")


def test_the_table_counts_its_cases() -> None:
    tables = (CONFIG_ROWS, RUN_ROWS, CLI_ROWS, DETECTION_ROWS, BUILDER_ROWS, FILE_ROWS, LOADING_ROWS, ENVIRONMENT_ROWS)
    assert sum(map(len, tables)) >= 100, sum(map(len, tables))


def test_trainable_backbone_layers_apply_to_a_backbone_of_our_own(tmp_path: Path, recwarn) -> None:
    from mnv3lib.engine.detection import build_detector
    from mnv3lib.models import mobilenet_v3_large

    save_checkpoint({"model": mobilenet_v3_large(num_classes=10).state_dict()}, tmp_path / "large.pt")
    config = DetectionConfig(model="fasterrcnn_mobilenet_v3_large_320_fpn", backbone_weights=str(tmp_path / "large.pt"), trainable_backbone_layers=2)
    body = list(build_detector(config, num_classes=7).backbone.body.children())
    trainable = [any(p.requires_grad for p in block.parameters()) for block in body]
    assert trainable == [False] * 13 + [True] * 4  # stages start at blocks 13 and 16 (Large: 0, 2, 4, 7, 13, 16)
    assert not [w for w in recwarn if "from scratch" in str(w.message)]
