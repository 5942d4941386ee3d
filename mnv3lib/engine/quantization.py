"""Quantization on the engine: quantization-aware fine-tuning with TorchVision's schedule (:class:`QATTask`), and post-training quantization experiments.

TorchVision's ``references/classification/train_quantization.py`` starts from trained float weights,
inserts fake-quantization, trains with SGD, and after ``num_observer_update_epochs`` stops updating the
observers (the quantization ranges), after ``num_batch_norm_update_epochs`` freezes the BatchNorm
statistics; each epoch it evaluates an int8 conversion. ``fit_qat`` does the same on the engine's one loop
(checkpoints and exact resume included).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.ao import quantization as tq
from torch.ao.nn.intrinsic import qat as intrinsic_qat
from torch.utils.data import Dataset

from ..analysis.quantization_error import prediction_agreement
from ..models.quantization import QuantizableMobileNetV3, convert, prepare_qat, ptq_qconfig, quantize_ptq
from .classification import ClassificationConfig, ClassificationTask, evaluate
from .loop import RunResult, run
from .runtime import Runtime

__all__ = ["QATTask", "qat_config", "qat_schedule", "fit_qat", "ptq_experiment"]


def qat_config(config: ClassificationConfig, epochs: int) -> ClassificationConfig:
    """The fine-tuning run of QAT (and of its float control): TorchVision's QAT optimiser settings (SGD,
    lr 0.001, momentum 0.9, weight decay 1e-5) at a constant learning rate for ``epochs``, with
    ``config``'s data and model settings."""
    return dataclasses.replace(
        config, epochs=epochs, opt="sgd", opt_eps=None, lr=0.001, momentum=0.9, weight_decay=1e-5,
        lr_scheduler="constant", lr_noise=None, average_last=0, model_ema=False,
    )  # fmt: skip


def qat_schedule(
    observer_epochs: int, batch_norm_epochs: int
) -> Callable[[nn.Module, int], None]:
    """The per-epoch hook: disable observers from epoch ``observer_epochs``,
    freeze BatchNorm statistics from epoch ``batch_norm_epochs`` (both
    0-based, as TorchVision counts)."""
    if observer_epochs < 0 or batch_norm_epochs < 0:
        raise ValueError(
            "expected epochs >= 0, got "
            f"observer_epochs={observer_epochs}, "
            f"batch_norm_epochs={batch_norm_epochs}"
        )

    def before_epoch(model: nn.Module, epoch: int) -> None:
        if epoch >= observer_epochs:
            model.apply(tq.disable_observer)
        if epoch >= batch_norm_epochs:
            model.apply(intrinsic_qat.freeze_bn_stats)

    return before_epoch


class QATTask(ClassificationTask):
    """Classification with fake-quantization: each epoch starts with TorchVision's observer/BatchNorm
    schedule (:func:`qat_schedule`) and is evaluated as its int8 conversion."""

    no_amp = "fake-quantization simulates int8 rounding in float32, and autocast would round its inputs to 16 bits first"

    def __init__(self, config: ClassificationConfig, observer_epochs: int, batch_norm_epochs: int, backend: str) -> None:
        super().__init__(config)
        self.schedule = qat_schedule(observer_epochs, batch_norm_epochs)
        self.settings = {"backend": backend, "observer_epochs": observer_epochs, "batch_norm_epochs": batch_norm_epochs}

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"qat": self.settings}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("qat")
        if saved != self.settings:
            different = [f"{k} {saved.get(k)!r} → {v!r}" for k, v in self.settings.items() if saved.get(k) != v] if saved else ["not a QAT run"]
            raise ValueError(f"cannot resume: the checkpoint was made with other QAT settings ({', '.join(different)})")
        super().load_state_dict(state)

    def before_epoch(self, model: nn.Module, epoch: int) -> None:
        self.schedule(model, epoch)

    def evaluation_model(self, model: nn.Module) -> nn.Module:
        return convert(model)


def fit_qat(
    float_model: QuantizableMobileNetV3,
    config: ClassificationConfig,
    train_set: Dataset,
    val_set: Dataset,
    *,
    backend: str = "x86",
    observer_epochs: int = 4,
    batch_norm_epochs: int = 3,
    runtime: Runtime | None = None,
    device: str | torch.device | None = None,
    sync_bn: bool = False,
    **options: Any,
) -> tuple[RunResult, QuantizableMobileNetV3]:
    """Fine-tune ``float_model`` with fake-quantization and return ``(run result, int8 model)``.

    TorchVision's QAT recipe for MobileNetV3 uses SGD, lr 0.001, weight decay 1e-5, observers updated for
    4 epochs and BatchNorm statistics for 3; pass those through ``config`` (:func:`qat_config`) and the
    keyword arguments. The validation accuracy of each epoch is that of the int8 conversion.

    Args:
        runtime: Where and how to train (a :class:`~mnv3lib.engine.runtime.Runtime`), or build it from
            ``device`` and ``sync_bn`` (not both). The fake-quantized model trains on its device
            (default: CUDA if present); the int8 model, which only PyTorch's CPU backends run, is on
            the CPU. Mixed precision is refused: fake-quantization simulates int8 rounding in float32,
            and autocast would round its inputs to 16 bits first.
        **options: :func:`mnv3lib.engine.loop.run`'s ``output_dir``, ``resume``, ``overwrite``,
            ``stop_after_epoch``, ``eval_every``, ``progress`` and ``log``: a resumed run ends bit-identical.
    """
    if runtime is None:
        runtime = Runtime(device=device, sync_bn=sync_bn)
    elif device is not None or sync_bn:
        raise ValueError("give either runtime or device and sync_bn, not both")
    if "model" in options:
        raise TypeError("fit_qat trains float_model prepared for QAT: it takes no model=")
    qat_model = prepare_qat(float_model, backend)
    task = QATTask(config, observer_epochs, batch_norm_epochs, backend)
    result = run(task, train_set, val_set, model=qat_model, runtime=runtime, **options)
    return result, convert(result.model)


def ptq_experiment(
    float_model: QuantizableMobileNetV3,
    calibration_batches: list,
    val_batches: list,
    observer: str = "histogram",
    batches: int = 8,
    *,
    weight: str = "per_channel",
    backend: str = "x86",
    reduce_range: bool | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Quantize ``float_model`` with ``batches`` calibration batches and ``observer`` (calibrated on
    ``device``); return its validation ``acc1``, ``acc5`` and top-1 ``agreement`` (%) with the float model."""
    if not 1 <= batches <= len(calibration_batches):
        raise ValueError(f"expected 1 <= batches <= {len(calibration_batches)} (the calibration batches given), got {batches!r}")
    qconfig = ptq_qconfig(observer, weight, backend=backend, reduce_range=reduce_range)
    int8_model = quantize_ptq(float_model, calibration_batches[:batches], backend, qconfig, device=device)
    metrics = evaluate(int8_model, val_batches)
    return {"acc1": metrics["acc1"], "acc5": metrics["acc5"], "agreement": prediction_agreement(float_model, int8_model, val_batches)}
