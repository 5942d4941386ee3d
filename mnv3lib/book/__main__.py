"""Re-create the book's saved results: ``python -m mnv3lib.book classification|detection|segmentation|latency``.

Each training command trains the runs of :mod:`mnv3lib.book.runs` and writes their results file and
float16 checkpoints into ``--output-dir`` (default: the package's ``artifacts/``). ``detection`` and
``segmentation`` keep per-epoch checkpoints in ``--work-dir``, from which an interrupted run resumes.
``latency`` times every model of the book in one process and writes the timing record that Chapters 4
and 6 and the model zoo print (:func:`mnv3lib.book.zoo.record_latency`; about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cli import positive_int
from .artifacts import ARTIFACTS
from .runs import run_classification, run_detection, run_segmentation
from .zoo import record_latency


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnv3lib.book", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="topic", required=True)
    for topic, text in (("classification", "the training chapter's recipe runs and its checkpoint"),
                        ("detection", "the detection chapters' mini-COCO detectors"),
                        ("segmentation", "the segmentation chapter's mini-COCO models")):  # fmt: skip
        command = commands.add_parser(topic, help=f"re-create {text}")
        command.add_argument("--output-dir", type=Path, default=ARTIFACTS)
        if topic != "classification":
            command.add_argument("--work-dir", type=Path, default=Path(f"runs/book-{topic}"), help="per-epoch checkpoints; an interrupted run resumes from them")
        command.add_argument("--progress", action="store_true", help="show progress bars")
        if topic == "detection":
            command.add_argument("--runs", nargs="+", default=None, help="train only these runs (main, low_res, ssdlite, fasterrcnn_320); the others' records are kept")
        if topic == "classification":
            command.add_argument("--reuse", action="store_true", help="take runs whose config is unchanged from the existing results file instead of training them again")
        command.add_argument("--device", default=None, help="cpu, cuda or mps (default: cuda if present, else cpu; the shipped results were made on the CPU)")
    command = commands.add_parser("latency", help="re-measure the book's timing record (CPU, batch 1)")
    command.add_argument("--output-dir", type=Path, default=ARTIFACTS)
    command.add_argument("--repeats", type=positive_int, default=15, help="timed passes per model (default 15)")
    args = parser.parse_args(argv)
    if args.topic == "latency":
        print(record_latency(args.output_dir, repeats=args.repeats))
        return 0
    options = {"progress": args.progress, "device": args.device}
    if args.topic == "classification":
        run_classification(args.output_dir, reuse=args.reuse, **options)
    elif args.topic == "detection":
        run_detection(args.output_dir, args.work_dir, only=args.runs, **options)
    else:
        run_segmentation(args.output_dir, args.work_dir, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
