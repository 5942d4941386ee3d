"""Training throughput: mnv3lib's engine against a bare TorchVision-style loop, in one interleaved run.

Both train the same model (built from the same seed) on the same data, transforms and batch size with
the same optimizer. Each is built first, outside any timed region (model, optimizer, data); then the
rounds time one epoch of each in turn, alternating which goes first, so that both see the same machine
state. The engine's epoch is :func:`mnv3lib.engine.loop.train_epoch` on the state
:func:`~mnv3lib.engine.loop.setup` built: the reseeding, the shard sampler, the collate's check of each
batch, the per-step learning rate, the non-finite check and the loss bookkeeping on the device. The bare
loop is the minimal loop of TorchVision's ``references/classification/train.py`` (move the batch,
forward, loss, zero_grad, backward, step), without even its per-step ``loss.item()``. The goal is an
engine at >= 1.0 of the bare loop's images/s on a CPU, >= 0.98 on a GPU.

    python benchmarks/throughput.py                     # CPU here; CUDA where present
    python benchmarks/throughput.py --amp --device cuda --batch-size 256 --crop 224
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mnv3lib.data.splits import shapes_splits
from mnv3lib.devices import autocast_dtype
from mnv3lib.engine.classification import ClassificationConfig, ClassificationTask, build_model, build_optimizer
from mnv3lib.engine.loop import setup, train_epoch, wrap
from mnv3lib.engine.runtime import Runtime


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(config: ClassificationConfig, train_set: Dataset, runtime: Runtime) -> Callable[[], float]:
    """Build the bare loop's model, optimizer and data (untimed); return a function that trains one epoch
    and returns its seconds."""
    device = runtime.device
    data, _ = ClassificationTask(config).datasets(train_set, train_set)
    torch.manual_seed(config.seed)
    model = build_model(config, len(train_set.classes)).to(device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(config, model.parameters())
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=runtime.amp and device.type == "cuda")

    def epoch() -> float:
        _synchronize(device)
        started = time.perf_counter()
        model.train()
        loader = DataLoader(data, batch_size=config.batch_size, shuffle=True, num_workers=config.workers, drop_last=True, pin_memory=device.type == "cuda")
        for images, targets in loader:
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            if runtime.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=runtime.amp):
                loss = criterion(model(images), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        _synchronize(device)
        return time.perf_counter() - started

    return epoch


def engine_loop(config: ClassificationConfig, train_set: Dataset, val_set: Dataset, runtime: Runtime) -> Callable[[], float]:
    """Build the engine's run state (untimed: checks, model, optimizer, DDP/compile wrapper); return a
    function that trains one epoch of it, as :func:`~mnv3lib.engine.loop.run` does, and returns its seconds."""
    state = setup(ClassificationTask(config), train_set, val_set, runtime=runtime)
    state.trained = wrap(state.model, runtime)

    def epoch() -> float:
        _synchronize(runtime.device)
        started = time.perf_counter()
        _, _, diverged = train_epoch(state, 0)
        _synchronize(runtime.device)
        if diverged:
            raise RuntimeError("the benchmark's run diverged: lower --lr")
        return time.perf_counter() - started

    return epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    parser.add_argument("--model", default="mobilenet_v3_small", choices=("mobilenet_v3_small", "mobilenet_v3_large"))
    parser.add_argument("--images", type=int, default=1024, help="training images per epoch (the book's shapes)")
    parser.add_argument("--image-size", type=int, default=64, help="the shapes' size")
    parser.add_argument("--crop", type=int, default=56, help="the training crop")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs of each, interleaved (after one untimed each)")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="the engine with torch.compile (the bare loop stays eager)")
    parser.add_argument("--log-every", type=int, default=Runtime.log_every, help="the engine's steps between reads of the loss")
    args = parser.parse_args(argv)
    runtime = Runtime(device=args.device, amp=args.amp, channels_last=args.channels_last, compile=args.compile, log_every=args.log_every)
    train_set, val_set = shapes_splits(args.images, args.batch_size, image_size=args.image_size)
    config = ClassificationConfig(model=args.model, batch_size=args.batch_size, epochs=2, train_crop_size=args.crop, val_resize_size=args.image_size,
                                  val_crop_size=args.crop, train_min_scale=0.35, workers=args.workers, eval_batch_size=args.batch_size)  # fmt: skip
    steps, device = args.images // args.batch_size, runtime.device
    print(f"{args.model}, {steps} steps of {args.batch_size} images at {args.crop} px per epoch, on {device}"
          f"{' (' + str(torch.get_num_threads()) + ' threads)' if device.type == 'cpu' else ''}, amp={args.amp}, "
          f"channels_last={args.channels_last}, compile={args.compile}; torch {torch.__version__}")  # fmt: skip
    loops = {"bare": bare_loop(config, train_set, runtime), "engine": engine_loop(config, train_set, val_set, runtime)}
    for epoch in loops.values():  # warm-up: allocator, thread pools, first-call overheads (and compilation, if any)
        epoch()
    rates: dict[str, list[float]] = {"bare": [], "engine": []}
    for round_index in range(args.rounds):
        for name in ("bare", "engine") if round_index % 2 == 0 else ("engine", "bare"):
            rates[name].append(steps * args.batch_size / loops[name]())
        print(f"round {round_index + 1}: bare loop {rates['bare'][-1]:.1f} images/s, engine {rates['engine'][-1]:.1f} images/s")
    ratio = statistics.median(e / b for e, b in zip(rates["engine"], rates["bare"]))
    goal = 0.98 if device.type == "cuda" else 1.0
    print(f"median: bare loop {statistics.median(rates['bare']):.1f} images/s, engine {statistics.median(rates['engine']):.1f} images/s")
    print(f"engine / bare loop = {ratio:.3f} (median of the {args.rounds} rounds' ratios; goal >= {goal})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
