"""CPU latency, measured honestly: warm-up runs, many repeats, the median, the thread count, and freed
memory kept in the process (:func:`hold_freed_memory`), so that no pass pays page faults that depend on
what ran before it.

Timings are benchmarks to print beside the articles' numbers, never assertions: compare models
with :func:`compare_latency`, which interleaves them in one run so that they share the machine's
state, and report ratios rather than absolute times.
"""

from __future__ import annotations

import ctypes
import functools
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_count, check_positive
from ..devices import move, resolve_device

__all__ = ["Latency", "measure_latency", "compare_latency", "hold_freed_memory", "num_threads", "relation_to"]

# glibc's mallopt parameters (malloc.h), and the values hold_freed_memory() sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_AT_BYTES, _MMAP_ABOVE_BYTES = 1 << 30, 32 << 20


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


@functools.cache
def hold_freed_memory() -> bool:
    """Keep the memory torch frees inside this process, so that timed passes do not page-fault it back in.

    glibc's malloc gives freed memory back to the operating system when the free space at the top of
    its heap passes a threshold that it adjusts as the program runs. The next forward pass then takes
    every page back with a page fault, which the kernel zeroes first. How much is given back depends on
    everything the process allocated before, so the same model's time depends on its history: on the
    book's 2-core machine, LR-ASPP at 520×520 took 38 ms without page faults and up to 62 ms with
    18,000 of them, in one process, and whole runs settled in one mode or the other. This fixes both of
    glibc's thresholds, like the ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` variables
    would before start-up: blocks up to 32 MiB (glibc's largest mmap threshold) come from the heap, and
    the heap keeps up to 1 GiB of free memory at its top. Larger blocks are still mapped and unmapped
    on each use, alike in every run. The process then holds its peak memory until it exits.

    It applies to the whole process, for the rest of its life (glibc cannot restore its adjusting
    thresholds), and only once; :func:`compare_latency` calls it unless told not to.

    Returns:
        True when glibc accepted both settings; False where the C library is not glibc (macOS,
        Windows, musl), where timing goes on as before.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError, TypeError):  # no mallopt (macOS), or no CDLL(None) (Windows)
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_AT_BYTES)) and bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE_BYTES))


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
    hold_memory: bool = True,
) -> dict[str, Latency]:
    """Time several models on the same input, interleaved round-robin, in eval mode without autograd.

    Each round times every model once (the order rotates between rounds), so slow drifts of the
    machine affect all models alike and their ratio is meaningful. On the CPU, freed memory is kept
    in the process first (:func:`hold_freed_memory`), so that no pass pays for page faults that
    depend on what ran before it.

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
        hold_memory: Call :func:`hold_freed_memory` before timing on the CPU (process-wide, for good);
            False leaves glibc's malloc as it is.

    Returns:
        Name → :class:`Latency`.
    """
    if not models:
        raise ValueError("expected at least one model to time, got an empty mapping")
    check_positive(repeats, "repeats", integer=True)
    check_count(warmup, "warmup")
    device = resolve_device(device)
    if hold_memory and device.type == "cpu":
        hold_freed_memory()
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
    hold_memory: bool = True,
) -> Latency:
    """Median latency of one model (on the CPU by default); see :func:`compare_latency` for the arguments."""
    timed = compare_latency({"model": model}, input_shape, repeats=repeats, warmup=warmup, threads=threads, device=device, hold_memory=hold_memory)
    return timed["model"]


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
