"""Re-create the book's saved results: ``python -m mnv3lib.book chapter2|chapter4|chapter5``.

Each command trains the runs of :mod:`mnv3lib.book.runs` and writes their results file and float16
checkpoints into ``--output-dir`` (default: the package's ``artifacts/``). ``chapter4`` and ``chapter5``
keep per-epoch checkpoints in ``--work-dir``, from which an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .artifacts import ARTIFACTS
from .runs import run_chapter2, run_chapter4, run_chapter5


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnv3lib.book", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="chapter", required=True)
    for chapter, text in (("chapter2", "Chapter 2's six recipe runs and its checkpoint"), ("chapter4", "Chapter 4's mini-COCO detectors"),
                          ("chapter5", "Chapter 5's mini-COCO segmentation models")):  # fmt: skip
        command = commands.add_parser(chapter, help=f"re-create {text}")
        command.add_argument("--output-dir", type=Path, default=ARTIFACTS)
        if chapter != "chapter2":
            command.add_argument("--work-dir", type=Path, default=Path(f"runs/book-{chapter}"), help="per-epoch checkpoints; an interrupted run resumes from them")
        command.add_argument("--progress", action="store_true", help="show progress bars")
        if chapter == "chapter2":
            command.add_argument("--reuse", action="store_true", help="take runs whose config is unchanged from the existing results file instead of training them again")
        command.add_argument("--device", default=None, help="cpu, cuda or mps (default: cuda if present, else cpu; the shipped results were made on the CPU)")
    args = parser.parse_args(argv)
    options = {"progress": args.progress, "device": args.device}
    if args.chapter == "chapter2":
        run_chapter2(args.output_dir, reuse=args.reuse, **options)
    elif args.chapter == "chapter4":
        run_chapter4(args.output_dir, args.work_dir, **options)
    else:
        run_chapter5(args.output_dir, args.work_dir, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
