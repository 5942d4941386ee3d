"""Training throughput: mnv3lib's engine against a bare TorchVision-style loop, in one interleaved run.

Both train the same model (built from the same seed) on the same data, transforms and batch size with
the same optimizer, for one epoch per round, alternating engine and bare loop so that both see the same
machine state. The engine's epoch is a whole :func:`mnv3lib.engine.loop.run` call (model build,
seeding, the shard sampler, per-step learning rate, the non-finite check, loss bookkeeping) stopped
after one epoch with no evaluation and nothing written; the bare loop is the minimal loop of TorchVision's
``references/classification/train.py`` (move the batch, forward, loss, zero_grad, backward, step),
without even its per-step ``loss.item()``. The goal is an engine at >= 0.95 of the bare loop's images/s.

    python benchmarks/throughput.py                     # CPU here; CUDA where present
    python benchmarks/throughput.py --amp --device cuda --batch-size 256 --crop 224
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from mnv3lib.data.splits import shapes_splits
from mnv3lib.devices import autocast_dtype, resolve_device
from mnv3lib.engine.classification import ClassificationConfig, ClassificationTask, build_model, build_optimizer
from mnv3lib.engine.loop import TransformedDataset, run


def bare_epoch(config: ClassificationConfig, train_set, device: torch.device, amp: bool, channels_last: bool) -> float:  # type: ignore[no-untyped-def]
    """One epoch of the bare loop; returns its seconds."""
    started = time.perf_counter()
    task = ClassificationTask(config)
    data, _ = task.datasets(train_set, train_set)
    torch.manual_seed(config.seed)
    model = build_model(config, len(train_set.classes)).to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(config, model.parameters())
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    model.train()
    loader = DataLoader(data, batch_size=config.batch_size, shuffle=True, num_workers=config.workers, drop_last=True, pin_memory=device.type == "cuda")
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=amp):
            loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def engine_epoch(config: ClassificationConfig, train_set, val_set, device: torch.device, amp: bool, channels_last: bool, compile: bool) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    run(ClassificationTask(config), train_set, val_set, device=device, amp=amp, channels_last=channels_last, compile=compile,
        stop_after_epoch=1, eval_every=2)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


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
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    train_set, val_set = shapes_splits(args.images, args.batch_size, image_size=args.image_size)
    config = ClassificationConfig(model=args.model, batch_size=args.batch_size, epochs=2, train_crop_size=args.crop, val_resize_size=args.image_size,
                                  val_crop_size=args.crop, train_min_scale=0.35, workers=args.workers, eval_batch_size=args.batch_size)  # fmt: skip
    steps = args.images // args.batch_size
    print(f"{args.model}, {steps} steps of {args.batch_size} images at {args.crop} px per epoch, on {device}"
          f"{' (' + str(torch.get_num_threads()) + ' threads)' if device.type == 'cpu' else ''}, amp={args.amp}, "
          f"channels_last={args.channels_last}, compile={args.compile}; torch {torch.__version__}")  # fmt: skip
    options = (device, args.amp, args.channels_last)
    bare_epoch(config, train_set, *options)  # warm-up: allocator, thread pools, first-call overheads
    engine_epoch(config, train_set, val_set, *options, args.compile)  # warm-up (and compilation, if any)
    bare, engine = [], []
    for round_index in range(args.rounds):
        order = ("bare", "engine") if round_index % 2 == 0 else ("engine", "bare")
        for name in order:
            if name == "bare":
                bare.append(steps * args.batch_size / bare_epoch(config, train_set, *options))
            else:
                engine.append(steps * args.batch_size / engine_epoch(config, train_set, val_set, *options, args.compile))
        print(f"round {round_index + 1}: bare loop {bare[-1]:.1f} images/s, engine {engine[-1]:.1f} images/s")
    ratio = statistics.median(e / b for e, b in zip(engine, bare))
    print(f"median: bare loop {statistics.median(bare):.1f} images/s, engine {statistics.median(engine):.1f} images/s")
    print(f"engine / bare loop = {ratio:.3f} (median of the {args.rounds} rounds' ratios; goal >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
