"""The run that tests/test_distributed.py trains with 1 process (batch 2B) and, through
ddp_equivalence.py, with 2 processes (batch B each): augmentation, dropout and stochastic depth off,
so that the two differ only in how the global batch is split."""

from __future__ import annotations

from mnv3lib.data import ShapesDataset, TransformedDataset
from mnv3lib.data.transforms import classification_eval_transform
from mnv3lib.engine.classification import ClassificationConfig, ClassificationTask

PER_PROCESS_BATCH = 4


def config(batch_size: int) -> ClassificationConfig:
    return ClassificationConfig(model="mobilenet_v3_small", width_mult=0.5, dropout=0.0, batch_size=batch_size, eval_batch_size=16,
                                epochs=3, opt="sgd", lr=0.05, lr_scheduler="constant", bn_momentum=0.1,
                                train_crop_size=32, val_resize_size=32, val_crop_size=32)  # fmt: skip


def data() -> tuple[ShapesDataset, ShapesDataset]:
    return ShapesDataset("train", size=40, image_size=32), ShapesDataset("val", size=20, image_size=32)


class NoAugmentation(ClassificationTask):
    """Classification with the evaluation transform for training too (no random crops or flips)."""

    def datasets(self, train_set, val_set):  # type: ignore[no-untyped-def]
        transform = classification_eval_transform(self.config.val_resize_size, self.config.val_crop_size)
        return TransformedDataset(train_set, transform), TransformedDataset(val_set, transform)
