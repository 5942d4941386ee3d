"""Milliseconds per training step of the book's keypoint R-CNN (Chapter 4's detector) on mini-COCO.

The book's config (``BOOK_DETECTORS["main"]``: keypoint R-CNN on MobileNetV3-Large FPN, light heads,
256 px, 8 scenes per step) trains through ``mnv3lib.engine.fit`` for a few epochs, without evaluation;
an epoch ends when ``fit`` logs it. The first epoch (model build, first-call overheads) is not timed:
the steady state is the time between the first epoch's log line and the last one's, over the steps in
between. It uses only ``fit``'s public keywords, so it measures any version of the engine; compare two
checkouts on a quiet machine, alternating::

    python benchmarks/detection_step.py                                        # this checkout
    PYTHONPATH=/path/to/other/checkout python benchmarks/detection_step.py     # another one
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=160, help="training scenes per epoch (the book's: 1600)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to train; all but the first are timed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be >= 2: the first epoch is not timed")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    import mnv3lib
    from mnv3lib.book import BOOK_DETECTORS, BOOK_SCENES
    from mnv3lib.data.splits import minicoco_splits
    from mnv3lib.engine import fit

    config = BOOK_DETECTORS["main"]
    if args.epochs >= config.epochs:
        parser.error(f"--epochs must be < {config.epochs}: the book's last epoch is evaluated")
    train_set, val_set = minicoco_splits(args.scenes, 8, image_size=BOOK_SCENES["image_size"])
    steps = args.scenes // config.batch_size
    print(f"mnv3lib from {Path(mnv3lib.__file__).parent}; torch {torch.__version__}, {torch.get_num_threads()} threads, on {args.device}")
    print(f"{config.model}, {config.min_size} px, {steps} steps of {config.batch_size} scenes per epoch, {args.epochs} epochs")
    ends: list[float] = []

    def log(line: str) -> None:
        ends.append(time.perf_counter())
        print(f"  {line}")

    result = fit(config, train_set, val_set, stop_after_epoch=args.epochs, eval_every=config.epochs, log=log, device=args.device)
    if result.diverged:
        print("the run diverged: the timing is not of a whole epoch", file=sys.stderr)
        return 1
    timed = steps * (len(ends) - 1)
    print(f"steady state: {1000 * (ends[-1] - ends[0]) / timed:.0f} ms/step (over the {timed} steps of epochs 2-{len(ends)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
