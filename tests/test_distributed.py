"""Devices, mixed precision and DDP through torchrun, on this machine's CPU (gloo).

The torchrun tests start real 2-process runs of ``python -m mnv3lib.train`` (and of a small script for
the sync-BN comparison), as a user would; each takes a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from mnv3lib.cli import main as train_main
from mnv3lib.data import ShapesDataset
from mnv3lib.data.splits import minicoco_splits
from mnv3lib.devices import autocast_dtype, model_device, move, resolve_device
from mnv3lib.engine import distributed, fit
from mnv3lib.engine.checkpoint import load_checkpoint, save_checkpoint
from mnv3lib.engine.classification import ClassificationConfig
from mnv3lib.engine.detection import DetectionConfig
from mnv3lib.engine.loop import Runtime, run
from mnv3lib.engine.segmentation import SegmentationConfig

SCRIPTS = Path(__file__).parent / "scripts"
sys.path.insert(0, str(SCRIPTS))
from equivalence_setup import PER_PROCESS_BATCH, NoAugmentation, config as equivalence_config, data as equivalence_data  # noqa: E402

TINY_SHAPES = ["--dataset", "shapes", "--shapes-train-size", "48", "--shapes-val-size", "21", "--model", "mobilenet_v3_small",
               "--width-mult", "0.25", "-b", "8", "--lr", "0.01"]  # fmt: skip


def torchrun(*args: str, processes: int = 2, timeout: int = 240) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=processes args...`` with this interpreter; fails the test
    with the output if it exits non-zero."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


# --------------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------------
def test_devices_are_resolved_and_checked_before_any_compute() -> None:
    assert resolve_device(None) == resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else resolve_device().type)
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match="expected device"):
        resolve_device(0.5)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="no CUDA GPU"):
            fit(ClassificationConfig(batch_size=2), *equivalence_data(), device="cuda")
    assert autocast_dtype(torch.device("cpu")) == torch.bfloat16 and autocast_dtype(torch.device("cuda")) == torch.float16


def test_move_reaches_every_tensor_of_a_detection_batch() -> None:
    images = [torch.rand(3, 8, 8)]
    targets = [{"boxes": torch.zeros(1, 4), "labels": torch.ones(1, dtype=torch.int64), "image_id": 3}]
    moved = move((images, targets), torch.device("meta"))
    assert moved[0][0].device.type == "meta" and moved[1][0]["boxes"].device.type == "meta" and moved[1][0]["image_id"] == 3
    batch = move(torch.rand(2, 3, 8, 8), torch.device("cpu"), channels_last=True)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert model_device(nn.Linear(2, 2).to("meta")).type == "meta" and model_device(nn.ReLU()) == torch.device("cpu")


def test_checkpoints_hold_cpu_tensors_whatever_device_trained(tmp_path: Path) -> None:
    """Saved from any device, a checkpoint loads on a CPU-only machine: save_checkpoint moves every
    tensor to the CPU (shown with the meta device, which this machine has, standing in for a GPU)."""
    state = nn.BatchNorm2d(3).state_dict()
    on_meta = move(state, torch.device("meta"))
    with pytest.raises(NotImplementedError):  # meta tensors have no data: the move to the CPU was attempted
        save_checkpoint({"model": on_meta}, tmp_path / "meta.pt")
    save_checkpoint({"model": state, "nested": [{"x": torch.ones(2)}]}, tmp_path / "cpu.pt")
    loaded = load_checkpoint(tmp_path / "cpu.pt")
    assert all(t.device.type == "cpu" for t in loaded["model"].values()) and loaded["nested"][0]["x"].device.type == "cpu"


def test_runtime_options_are_checked_per_task() -> None:
    scenes = minicoco_splits(4, 2, image_size=64)
    with pytest.raises(ValueError, match="channels_last is not offered for DetectionTask"):
        fit(DetectionConfig(batch_size=2), *scenes, channels_last=True, device="cpu")
    with pytest.raises(ValueError, match="compile is not offered for DetectionTask"):
        fit(DetectionConfig(batch_size=2), *scenes, compile=True, device="cpu")
    with pytest.raises(TypeError, match="amp to be True or False"):
        fit(ClassificationConfig(batch_size=2), *equivalence_data(), amp="yes", device="cpu")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# How an epoch is dealt out to the processes
# --------------------------------------------------------------------------------------------------
def test_one_process_sees_what_it_saw_before_ddp_existed() -> None:
    """In one process the shard sampler yields RandomSampler's order, draw for draw, so the book's
    recorded single-process runs are unchanged."""
    dataset = list(range(50))
    before = [b.tolist() for b in DataLoader(dataset, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(7), drop_last=True)]
    generator = torch.Generator().manual_seed(7)
    now = [b.tolist() for b in DataLoader(dataset, batch_size=8, sampler=distributed.ShardSampler(50, generator), generator=generator, drop_last=True)]
    assert now == before


def test_processes_together_see_the_global_batch_of_one_process() -> None:
    size, batch, processes = 50, 4, 2
    single = list(distributed.ShardSampler(size, torch.Generator().manual_seed(3), num_replicas=1, rank=0))
    shares = [list(distributed.ShardSampler(size, torch.Generator().manual_seed(3), num_replicas=processes, rank=r)) for r in range(processes)]
    assert sorted(shares[0] + shares[1]) == sorted(single[: size // processes * processes])  # disjoint, and all of the epoch
    for step in range(len(shares[0]) // batch):
        together = {i for share in shares for i in share[step * batch : (step + 1) * batch]}
        assert together == set(single[step * batch * processes : (step + 1) * batch * processes])
    with pytest.raises(ValueError, match="rank < num_replicas"):
        distributed.ShardSampler(size, torch.Generator(), num_replicas=2, rank=2)


# --------------------------------------------------------------------------------------------------
# torchrun, 2 processes on gloo
# --------------------------------------------------------------------------------------------------
def test_torchrun_classification_resumes_in_one_process(tmp_path: Path, capsys) -> None:
    """2 processes train one epoch of two (rank 0 alone logs and writes); one process finishes the run."""
    done = torchrun("-m", "mnv3lib.train", "classification", *TINY_SHAPES, "--epochs", "2", "--stop-after-epoch", "1", "--sync-bn",
                    "--output-dir", str(tmp_path))  # fmt: skip
    assert done.stdout.count("epoch 1/2:") == 1, done.stdout  # one log line, from rank 0
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["epoch"] == 1 and saved["runtime"]["processes"] == 2 and saved["runtime"]["sync_bn"]
    assert not any(".running_mean" not in k and "CPUSync" in k for k in saved["model"])  # plain BatchNorm keys
    assert train_main(["classification", *TINY_SHAPES, "--epochs", "2", "--output-dir", str(tmp_path),
                       "--resume", str(tmp_path / "checkpoint.pt"), "--device", "cpu"]) == 0  # fmt: skip
    resumed = load_checkpoint(tmp_path / "checkpoint.pt")
    assert resumed["epoch"] == 2 and resumed["runtime"]["processes"] == 1
    assert [e["epoch"] for e in resumed["history"]] == [1, 2]
    assert "epoch 2/2:" in capsys.readouterr().out


def test_torchrun_refusals_reach_every_process_in_one_line(tmp_path: Path) -> None:
    """Under torchrun, a refusal that only rank 0 can make (a folder holding another run) and one that
    depends on the process count (20 items, 2 processes, batches of 16: no step) stop both processes
    before any step, with one line from rank 0 and no collective error from rank 1."""
    tmp_path.joinpath("history.json").write_text("{}")
    cases = {"already holds a run (history.json)": ["--shapes-train-size", "48", "-b", "8", "--output-dir", str(tmp_path)],
             "20 items (10 for each of 2 processes), fewer than batch_size 16": ["--shapes-train-size", "20", "-b", "16",
                                                                                 "--output-dir", str(tmp_path / "new")]}  # fmt: skip
    for message, flags in cases.items():
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "mnv3lib.train", "classification",
                   *TINY_SHAPES, "--epochs", "1", *flags]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert done.returncode != 0 and done.stderr.count(message) == 1, done.stderr[-3000:]
        assert "gloo" not in done.stderr.lower() and "epoch 1/1" not in done.stdout, done.stderr[-3000:]
    assert not (tmp_path / "new" / "checkpoint.pt").exists()


def test_torchrun_detection_gathers_every_prediction(tmp_path: Path) -> None:
    done = torchrun("-m", "mnv3lib.train", "detection", "--scenes-train-size", "8", "--scenes-val-size", "5", "-b", "2", "--epochs", "1",
                    "--min-size", "128", "--max-size", "128", "--warmup-iters", "2", "--sync-bn", "--output-dir", str(tmp_path))  # fmt: skip
    assert done.stdout.count("box AP") == 2  # the epoch's log line and the summary, once each
    assert load_checkpoint(tmp_path / "checkpoint.pt")["runtime"]["processes"] == 2


def test_torchrun_segmentation(tmp_path: Path) -> None:
    done = torchrun("-m", "mnv3lib.train", "segmentation", "--scenes-train-size", "8", "--scenes-val-size", "5", "-b", "2", "--epochs", "1",
                    "--image-size", "64", "--sync-bn", "--output-dir", str(tmp_path))  # fmt: skip
    assert done.stdout.count("mIoU") == 2


def test_sync_bn_over_two_processes_follows_one_process_with_the_global_batch(tmp_path: Path) -> None:
    """2 processes × batch 4 with --sync-bn against 1 process × batch 8, augmentation and dropout off.

    Both see the same 8 images at every step (test above), so the runs differ only in the order of
    float32 additions: per-process partial sums in BatchNorm and in DDP's gradient average. Such
    rounding (~1e-7 relative per operation) grows over the run's 15 SGD steps; measured here it stays
    near 1e-5 in the epoch losses, so 1e-4 is the tolerance. Without --sync-bn each process normalises
    by the statistics of its own 4 images, a different computation: its losses differ by about 1e-2,
    which the test also checks, so a sync-BN that did nothing would fail it.
    """
    torchrun(str(SCRIPTS / "ddp_equivalence.py"), str(tmp_path / "two.pt"))
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    one = run(NoAugmentation(equivalence_config(2 * PER_PROCESS_BATCH)), *equivalence_data(), runtime=Runtime("cpu"))
    losses = [e.train_loss for e in one.history]
    relative = {sync: max(abs(a - b) / abs(b) for a, b in zip(two[sync]["losses"], losses)) for sync in (True, False)}
    assert relative[True] < 1e-4, relative
    assert relative[False] > 1e-3, relative
    # the weights too, each tensor relative to its size (with a floor: some biases are ~1e-9, pure rounding)
    worst = max((two[True]["state"][name] - value.detach()).abs().max().item() / (value.detach().abs().max().item() + 1e-3)
                for name, value in one.model.named_parameters())  # fmt: skip
    assert worst < 1e-2, worst
    assert two[True]["acc1"] == [e.val_acc1 for e in one.history]  # the whole validation set, counted over both shards


# --------------------------------------------------------------------------------------------------
# Mixed precision (bfloat16 autocast on the CPU), one step of each task
# --------------------------------------------------------------------------------------------------
def _bf16_conv_outputs(model: nn.Module) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype) if module.training else None)
    return seen


@pytest.mark.parametrize("task", ["classification", "detection", "segmentation"])
def test_bf16_autocast_trains_a_step_of_each_task(task: str) -> None:
    if task == "classification":
        config, data = ClassificationConfig(model="mobilenet_v3_small", width_mult=0.25, batch_size=8, epochs=1, train_crop_size=32,
                                            val_resize_size=32, val_crop_size=32), (ShapesDataset("train", size=8, image_size=32), ShapesDataset("val", size=4, image_size=32))  # fmt: skip
    elif task == "detection":
        config, data = DetectionConfig(batch_size=2, epochs=1, min_size=96, max_size=96, warmup_iters=1), minicoco_splits(2, 2, image_size=96)
    else:
        config, data = SegmentationConfig(image_size=64, batch_size=2, epochs=1), minicoco_splits(2, 2, image_size=64, semantic=True)
    from mnv3lib.engine import TASKS

    task_object = TASKS[type(config)](config)
    model = task_object.build_model(data[0])
    dtypes = _bf16_conv_outputs(model)
    result = run(task_object, *data, model=model, runtime=Runtime("cpu", amp=True))
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the step ran under autocast
    assert not result.diverged and all(torch.isfinite(p).all() for p in result.model.parameters())
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # the weights stay float32


# --------------------------------------------------------------------------------------------------
# Memory layout and torch.compile
# --------------------------------------------------------------------------------------------------
def test_channels_last_trains_the_same_model() -> None:
    config = ClassificationConfig(model="mobilenet_v3_small", width_mult=0.25, batch_size=8, epochs=1, train_crop_size=32,
                                  val_resize_size=32, val_crop_size=32)  # fmt: skip
    data = ShapesDataset("train", size=16, image_size=32), ShapesDataset("val", size=8, image_size=32)
    plain, last = (fit(config, *data, device="cpu", channels_last=flag) for flag in (False, True))
    conv = next(m for m in last.model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert abs(plain.history[0].train_loss - last.history[0].train_loss) < 1e-4  # the same computation, laid out differently
    segmentation = fit(SegmentationConfig(image_size=64, batch_size=2, epochs=1), *minicoco_splits(4, 2, image_size=64, semantic=True),
                       device="cpu", channels_last=True)  # fmt: skip
    assert not segmentation.diverged


def test_compile_trains_through_the_compiled_model_and_saves_the_plain_one(tmp_path: Path, monkeypatch) -> None:
    """--compile wraps the training model in torch.compile; the checkpoint holds the plain model's keys.
    (Inductor's code generation takes about a minute on 2 cores, so the test compiles with the "eager"
    backend: the same wrapping and graph capture, without generated kernels. benchmarks/throughput.py
    times the real thing.)"""
    compiled: list[nn.Module] = []
    real_compile = torch.compile

    def eager_compile(model: nn.Module, **kwargs: object) -> nn.Module:
        compiled.append(model)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    config = ClassificationConfig(model="mobilenet_v3_small", width_mult=0.25, batch_size=8, epochs=1, train_crop_size=32,
                                  val_resize_size=32, val_crop_size=32)  # fmt: skip
    data = ShapesDataset("train", size=16, image_size=32), ShapesDataset("val", size=8, image_size=32)
    result = fit(config, *data, device="cpu", compile=True, output_dir=tmp_path)
    assert compiled and compiled[0] is result.model
    assert not any(key.startswith("_orig_mod") for key in load_checkpoint(tmp_path / "checkpoint.pt")["model"])


# --------------------------------------------------------------------------------------------------
# Segmentation from the command line, on a (tiny, written here) Pascal VOC folder
# --------------------------------------------------------------------------------------------------
def _write_voc(root: Path, names: dict[str, list[str]]) -> None:
    from PIL import Image

    folder = root / "VOCdevkit" / "VOC2012"
    for sub in ("ImageSets/Segmentation", "JPEGImages", "SegmentationClass"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for split, items in names.items():
        (folder / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(items) + "\n")
        for name in items:
            pixels = (torch.rand(40, 48, 3, generator=generator) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(folder / "JPEGImages" / f"{name}.jpg")
            labels = torch.zeros(40, 48, dtype=torch.uint8)
            labels[10:30, 12:36], labels[10, :] = 15, 255  # a person, and a border line to ignore
            mask = Image.fromarray(labels.numpy()).convert("P")
            mask.putpalette([0, 0, 0] * 256)
            mask.save(folder / "SegmentationClass" / f"{name}.png")


def test_cli_trains_segmentation_on_a_voc_folder(tmp_path: Path, capsys) -> None:
    from mnv3lib.data.voc import VOC_CLASSES, VOCSegmentationFolder

    _write_voc(tmp_path / "voc", {"train": ["a", "b", "c", "d"], "val": ["e", "f"]})
    image, mask = VOCSegmentationFolder(tmp_path / "voc", "train")[0]
    assert image.shape == (3, 40, 48) and mask.dtype == torch.int64 and set(mask.unique().tolist()) == {0, 15, 255}
    assert len(VOC_CLASSES) == 21
    code = train_main(["segmentation", "--dataset", "voc", "--data-path", str(tmp_path / "voc"), "--image-size", "64", "-b", "2",
                       "--epochs", "1", "--device", "cpu", "--output-dir", str(tmp_path / "run")])  # fmt: skip
    assert code == 0 and "mIoU" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["classes"] == list(VOC_CLASSES)
    assert train_main(["segmentation", "--dataset", "voc", "--data-path", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "r2")]) == 2
    assert "holds no Pascal VOC 2012 segmentation data" in capsys.readouterr().err
    assert train_main(["classification", "--dataset", "shapes", "--device", "tpu", "--output-dir", str(tmp_path / "r3")]) == 2
    assert "--device: unknown device 'tpu'" in capsys.readouterr().err
