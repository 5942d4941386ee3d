"""The training loop: exact resume, atomic checkpoints, schedules, averaging, and the CLI end to end."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest
import torch

from mnv3lib.engine.checkpoint import CheckpointWriteError, as_float16, as_float32, average_state_dicts, load_checkpoint, save_checkpoint
from mnv3lib.data import ShapesDataset
from mnv3lib.data.folders import export_image_folder
from mnv3lib.cli import main as train_main
from mnv3lib.engine import fit
from mnv3lib.engine.classification import ClassificationConfig, accuracy, lr_factor

TINY = {
    "model": "mobilenet_v3_small", "width_mult": 0.25, "batch_size": 16, "eval_batch_size": 64,
    "train_crop_size": 28, "val_resize_size": 32, "val_crop_size": 28, "train_min_scale": 0.35, "lr": 0.01,
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_data() -> tuple[ShapesDataset, ShapesDataset]:
    return ShapesDataset("train", size=64, image_size=32), ShapesDataset("val", size=32, image_size=32)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize(
    "extra",
    [
        {"opt": "rmsprop", "auto_augment": "imagenet", "random_erase": 0.2, "label_smoothing": 0.1},
        {"opt": "rmsproptf", "stochastic_depth_prob": 0.2, "lr_noise": (0.2, 0.9), "model_ema": True, "model_ema_steps": 1, "average_last": 2},
        {"opt": "sgd", "lr_scheduler": "cosineannealinglr", "lr_warmup_epochs": 1, "workers": 1},
    ],
    ids=["rmsprop-augment", "rmsproptf-regularised", "sgd-cosine-workers"],
)
def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path: Path, tiny_data, extra: dict) -> None:
    config = ClassificationConfig(**TINY, epochs=3, **extra)
    straight = fit(config, *tiny_data, output_dir=tmp_path / "straight")
    first = fit(config, *tiny_data, output_dir=tmp_path / "split", stop_after_epoch=2)
    assert len(first.history) == 2
    resumed = fit(config, *tiny_data, output_dir=tmp_path / "split", resume=tmp_path / "split" / "checkpoint.pt")
    assert _same_weights(straight.model, resumed.model)
    assert [e.val_acc1 for e in straight.history] == [e.val_acc1 for e in resumed.history]
    if config.model_ema:
        assert _same_weights(straight.extras["ema_model"], resumed.extras["ema_model"])
    if config.average_last:
        assert straight.extras["averaged"] == resumed.extras["averaged"] and straight.extras["averaged"]["epochs"]


def test_resume_needs_the_same_config(tmp_path: Path, tiny_data) -> None:
    config = ClassificationConfig(**TINY, epochs=2)
    fit(config, *tiny_data, output_dir=tmp_path, stop_after_epoch=1)
    with pytest.raises(ValueError, match="different config \\(lr\\)"):
        fit(ClassificationConfig(**(TINY | {"lr": 0.1}), epochs=2), *tiny_data, resume=tmp_path / "checkpoint.pt")


def test_checkpoint_holds_what_resume_needs(tmp_path: Path, tiny_data) -> None:
    fit(ClassificationConfig(**TINY, epochs=1), *tiny_data, output_dir=tmp_path)
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert {"model", "optimizer", "task", "epoch", "config", "history"} <= set(saved)
    assert saved["epoch"] == 1 and saved["config"]["lr"] == 0.01 and saved["classes"][0] == "circle"
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_atomic_save_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = save_checkpoint({"value": torch.tensor(1)}, tmp_path / "c.pt")

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint({"value": Unpicklable()}, path)
    assert load_checkpoint(path)["value"].item() == 1 and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")])  # fmt: skip
def test_a_full_disk_is_named_and_the_old_checkpoint_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    """torch.save reports a full disk as an OSError or as a RuntimeError of its zip writer: either way the
    error says it could not write, how much space is free, and that the file there is unchanged."""
    path = save_checkpoint({"value": torch.tensor(1)}, tmp_path / "c.pt")

    def full_disk(payload: object, file: object) -> None:
        file.write(b"partial")
        raise failure

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError, match=r"cannot write .*c\.pt: .* MiB free there\); the file that was there, if any, is unchanged"):
        save_checkpoint({"value": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["value"].item() == 1 and not list(tmp_path.glob(".*.tmp"))


def test_average_state_dicts() -> None:
    a = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([2.0, 4.0]), "n": torch.tensor(5)}
    averaged = average_state_dicts([a, b])
    assert torch.equal(averaged["w"], torch.tensor([1.0, 3.0])) and averaged["n"].item() == 5
    with pytest.raises(ValueError, match="at least one"):
        average_state_dicts([])
    with pytest.raises(ValueError, match="different keys"):
        average_state_dicts([a, {"w": a["w"]}])


def test_float16_round_trip_keeps_integer_tensors() -> None:
    state = {"w": torch.tensor([0.1, 1.5]), "num_batches_tracked": torch.tensor(7)}
    half = as_float16(state)
    assert half["w"].dtype == torch.float16 and half["num_batches_tracked"].dtype == torch.int64
    back = as_float32(half)
    assert back["w"].dtype == torch.float32 and torch.equal(back["w"], torch.tensor([0.1, 1.5]).half().float())
    assert torch.equal(back["num_batches_tracked"], state["num_batches_tracked"])


def test_learning_rate_schedules() -> None:
    step = ClassificationConfig(lr_step_size=2, lr_gamma=0.973, epochs=10)
    assert [round(lr_factor(step, e), 6) for e in range(5)] == [1, 1, 0.973, 0.973, round(0.973**2, 6)]
    warm = ClassificationConfig(lr_warmup_epochs=2, lr_warmup_decay=0.1, lr_scheduler="cosineannealinglr", epochs=6)
    factors = [lr_factor(warm, e) for e in range(6)]
    assert factors[0] == pytest.approx(0.1) and factors[1] == pytest.approx(0.55) and factors[2] == pytest.approx(1.0)
    assert factors[2:] == sorted(factors[2:], reverse=True)
    noisy = ClassificationConfig(lr_noise=(0.5, 1.0), epochs=10, lr_scheduler="constant")
    noise = [lr_factor(noisy, e) for e in range(10)]
    assert noise[:5] == [1.0] * 5 and all(abs(f - 1) < 0.67 for f in noise[5:]) and len(set(noise[5:])) == 5
    assert noise == [lr_factor(noisy, e) for e in range(10)]  # a pure function: resume-safe


def test_accuracy_top_k() -> None:
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    targets = torch.tensor([1, 2, 0])
    acc1, acc2 = accuracy(logits, targets, (1, 2))
    assert acc1 == pytest.approx(100 / 3) and acc2 == pytest.approx(100 / 3)
    assert accuracy(logits, targets, (5,))[0] == pytest.approx(100)  # k capped at the class count


def test_divergence_is_reported_not_hidden(tiny_data) -> None:
    result = fit(ClassificationConfig(**(TINY | {"lr": 1e6}), epochs=2, opt="sgd"), *tiny_data)
    assert result.diverged and math.isnan(result.history[-1].train_loss)


@pytest.mark.parametrize(("field", "value", "message"), [("opt", "adam", "unknown optimizer 'adam'"), ("epochs", 0, "epochs > 0"),
                                                          ("label_smoothing", 1.0, "label_smoothing < 1"), ("lr_noise", (0.9, 0.1), "lr_noise")])
def test_config_validation(field: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClassificationConfig(**{field: value})


def test_cli_trains_on_an_image_folder_and_resumes(tmp_path: Path, capsys) -> None:
    export_image_folder(ShapesDataset("train", size=40, image_size=32), tmp_path / "data" / "train")
    export_image_folder(ShapesDataset("val", size=20, image_size=32), tmp_path / "data" / "val")
    flags = [
        "classification", "--data-path", str(tmp_path / "data"), "--model", "mobilenet_v3_small", "--width-mult", "0.25",
        "--opt", "rmsprop", "--lr", "0.064", "--wd", "1e-5", "--lr-step-size", "2", "--lr-gamma", "0.973",
        "--auto-augment", "imagenet", "--random-erase", "0.2", "--batch-size", "8",
        "--train-crop-size", "28", "--val-resize-size", "32", "--val-crop-size", "28", "--output-dir", str(tmp_path / "out"),
    ]  # fmt: skip
    assert train_main([*flags, "--epochs", "1"]) == 0
    assert train_main([*flags, "--epochs", "1", "--resume", str(tmp_path / "out" / "checkpoint.pt")]) == 0
    summary = json.loads((tmp_path / "out" / "history.json").read_text())
    assert summary["config"]["auto_augment"] == "imagenet" and len(summary["history"]) == 1
    assert load_checkpoint(tmp_path / "out" / "checkpoint.pt")["classes"] == sorted(ShapesDataset.classes)
    assert "epoch 1/1" in capsys.readouterr().out
    capsys.readouterr()
    assert train_main(["classification", "--data-path", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "x")]) == 2
    assert "error: expected ImageNet-style folders" in capsys.readouterr().err


def test_cli_trains_on_the_books_shapes(tmp_path: Path) -> None:
    flags = ["classification", "--dataset", "shapes", "--shapes-train-size", "32", "--shapes-val-size", "16", "--width-mult", "0.25",
             "--epochs", "1", "--batch-size", "16", "--lr", "0.004", "--bn-momentum", "0.1", "--output-dir", str(tmp_path)]  # fmt: skip
    assert train_main(flags) == 0
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["config"]["train_crop_size"] == 56 and saved["config"]["bn_momentum"] == 0.1 and len(saved["classes"]) == 10
