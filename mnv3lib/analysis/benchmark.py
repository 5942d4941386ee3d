"""CPU latency, measured honestly: warm-up runs, many repeats, the median, and the thread count.

Timings are benchmarks to print beside the articles' numbers, never assertions: compare models
with :func:`compare_latency`, which interleaves them in one run so that they share the machine's
state, and report ratios rather than absolute times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_positive
from ..devices import move, resolve_device

__all__ = ["Latency", "measure_latency", "compare_latency", "num_threads", "relation_to"]


@dataclass(frozen=True)
class Latency:
    """Summary of repeated timings of one model, in milliseconds."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    repeats: int
    warmup: int
    threads: int
    input_shape: tuple[int, ...]

    def __str__(self) -> str:
        return (
            f"{self.median_ms:.1f} ms (median of {self.repeats}, IQR {self.q1_ms:.1f}–{self.q3_ms:.1f} ms, "
            f"{self.threads} thread{'s' if self.threads > 1 else ''}, input {tuple(self.input_shape)})"
        )


@contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Temporarily set torch's intra-op thread count (``None`` keeps the current one)."""
    previous = torch.get_num_threads()
    if threads is not None:
        check_positive(threads, "threads", integer=True)
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


@contextmanager
def _eval_mode(models: Mapping[str, nn.Module]) -> Iterator[None]:
    """Eval mode while timing, then each model's own mode back (frozen TorchScript modules have none)."""
    modes = {name: getattr(m, "training", None) for name, m in models.items()}
    try:
        for name, m in models.items():
            if modes[name] is not None:
                m.eval()
        yield
    finally:
        for name, m in models.items():
            if modes[name] is not None:
                m.train(modes[name])


def _summarise(times_s: list[float], warmup: int, threads: int, shape: tuple[int, ...]) -> Latency:
    ms = [t * 1e3 for t in times_s]
    q1, median, q3 = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 else (ms[0], ms[0], ms[0])
    return Latency(median, q1, q3, len(times_s), warmup, threads, shape)


def compare_latency(
    models: Mapping[str, nn.Module],
    input_shape: tuple[int, ...] = (1, 3, 224, 224),
    *,
    repeats: int = 30,
    warmup: int = 5,
    threads: int | None = None,
    inputs: torch.Tensor | list[torch.Tensor] | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Latency]:
    """Time several models on the same input, interleaved round-robin, in eval mode without autograd.

    Each round times every model once (the order rotates between rounds), so slow drifts of the
    machine affect all models alike and their ratio is meaningful.

    Args:
        models: Name → model.
        input_shape: Shape of the random input batch.
        repeats: Timed forward passes per model.
        warmup: Untimed passes per model first.
        threads: Intra-op threads to use (``None`` keeps torch's current setting).
        inputs: A specific input instead of a random one: a batch, or a list of ``(3, H, W)`` images
            (what detection models take).
        device: Where to time them (the models are moved there). The default is the CPU, because the
            articles' tables are CPU times; on CUDA each pass is timed to the end of its kernels
            (``torch.cuda.synchronize``).

    Returns:
        Name → :class:`Latency`.
    """
    if not models:
        raise ValueError("expected at least one model to time, got an empty mapping")
    check_positive(repeats, "repeats", integer=True)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"expected warmup to be an int >= 0, got {warmup!r}")
    device = resolve_device(device)
    x = inputs if inputs is not None else torch.rand(input_shape, generator=torch.Generator().manual_seed(0))
    x = move(x, device)
    if device.type != "cpu":
        for model in models.values():
            model.to(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    names = list(models)
    times: dict[str, list[float]] = {name: [] for name in names}
    with num_threads(threads) as used_threads, _eval_mode(models), torch.inference_mode():
        for _ in range(warmup):
            for name in names:
                models[name](x)
        for round_index in range(repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                synchronize()
                start = time.perf_counter()
                models[name](x)
                synchronize()
                times[name].append(time.perf_counter() - start)
    shape = tuple(x.shape) if isinstance(x, torch.Tensor) else (len(x), *x[0].shape)
    return {name: _summarise(times[name], warmup, used_threads, shape) for name in names}


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...] = (1, 3, 224, 224),
    *,
    repeats: int = 30,
    warmup: int = 5,
    threads: int | None = None,
    device: str | torch.device = "cpu",
) -> Latency:
    """Median latency of one model (on the CPU by default); see :func:`compare_latency` for the arguments."""
    return compare_latency({"model": model}, input_shape, repeats=repeats, warmup=warmup, threads=threads, device=device)["model"]


def relation_to(ours: Sequence[float], published: Sequence[float], *, close: float = 0.25) -> str:
    """How measured ratios stand against published ones, in words a sentence can take: "close to" when each
    is within ``close`` (a fraction) of its published value, else "below" or "above" when all lie on one
    side, else "on either side of". The chapters glue it, so that their prose follows the measurement.

    Raises:
        ValueError: the sequences are empty or differ in length, a value is not positive, or ``close`` is
            not in (0, 1).
    """
    ours, published = [float(v) for v in ours], [float(v) for v in published]
    if not ours or len(ours) != len(published):
        raise ValueError(f"expected as many measured ratios as published ones (at least one), got {len(ours)} and {len(published)}")
    if min(ours + published) <= 0:
        raise ValueError(f"ratios must be positive, got {ours} and {published}")
    if not 0 < close < 1:
        raise ValueError(f"close must be a fraction in (0, 1), got {close}")
    if all(abs(o / p - 1) <= close for o, p in zip(ours, published)):
        return "close to"
    if all(o < p for o, p in zip(ours, published)):
        return "below"
    if all(o > p for o, p in zip(ours, published)):
        return "above"
    return "on either side of"
