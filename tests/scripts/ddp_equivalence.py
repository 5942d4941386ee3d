"""Run under torchrun by tests/test_distributed.py: trains the same tiny classifier as the test's
one-process run, without augmentation, with and without --sync-bn, and writes each run's epoch losses
and final weights to OUTPUT (rank 0)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from equivalence_setup import PER_PROCESS_BATCH, config, data, NoAugmentation  # noqa: E402

from mnv3lib.engine import distributed  # noqa: E402
from mnv3lib.engine.loop import Runtime, run  # noqa: E402

if __name__ == "__main__":
    output = Path(sys.argv[1])
    distributed.init_from_env("cpu")
    results = {}
    for sync_bn in (True, False):
        result = run(NoAugmentation(config(PER_PROCESS_BATCH)), *data(), runtime=Runtime("cpu", sync_bn=sync_bn))
        results[sync_bn] = {"losses": [e.train_loss for e in result.history], "state": result.model.state_dict(),
                            "acc1": [e.val_acc1 for e in result.history]}  # fmt: skip
    if distributed.is_main():
        torch.save(results, output)
    distributed.shutdown()
