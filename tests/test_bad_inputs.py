"""Bad input gets a named error before any compute, and runs never lose work: one table, one row per
case (what is called → the exception type and a fragment of its message). Add a row to add a case."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mnv3lib.cli import main as cli
from mnv3lib.data import MiniCocoScenes, ShapesDataset, SemanticScenes
from mnv3lib.engine import fit
from mnv3lib.engine.checkpoint import load_checkpoint, save_checkpoint
from mnv3lib.engine.classification import ClassificationConfig
from mnv3lib.engine.detection import DetectionConfig
from mnv3lib.engine.segmentation import SegmentationConfig

TINY = {"model": "mobilenet_v3_small", "width_mult": 0.25, "batch_size": 8, "eval_batch_size": 16, "epochs": 2,
        "train_crop_size": 28, "val_resize_size": 32, "val_crop_size": 28, "lr": 0.01}  # fmt: skip


def _shapes(train: int = 16, val: int = 8, seed: int = 0) -> tuple[ShapesDataset, ShapesDataset]:
    return ShapesDataset("train", size=train, image_size=32, seed=seed), ShapesDataset("val", size=val, image_size=32, seed=seed)


def _config(**changes: object) -> ClassificationConfig:
    return ClassificationConfig(**(TINY | changes))


# (id, call, exception type, message fragment)
CONFIG_ROWS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
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
]


@pytest.mark.parametrize(("call", "error", "fragment"), [row[1:] for row in RUN_ROWS], ids=[row[0] for row in RUN_ROWS])
def test_bad_runs_fail_before_any_step(tmp_path: Path, call, error, fragment) -> None:
    _refuse(tmp_path, call, error, fragment)


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
