"""Data-parallel training through torchrun, as TorchVision's reference scripts do it.

``torchrun --nproc_per_node=N -m mnv3lib.train ...`` starts N processes and gives each its ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``. :func:`init_from_env` joins them into one process group (NCCL on
CUDA, gloo on the CPU); from then on the engine's loop wraps the model in
``DistributedDataParallel``, gives each process its share of every epoch (:class:`ShardSampler`),
evaluates each process's share of the validation set and adds the counts up (:func:`all_reduce_sum`,
:func:`gather_objects`), and lets only rank 0 write checkpoints, logs and progress bars.

Every helper here also works in a single process without a process group: there it is the identity
(one rank, everything is its share), so the library has one code path.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, Sampler, Subset

from ..devices import resolve_device

__all__ = [
    "init_from_env", "shutdown", "world_size", "rank", "is_main", "barrier", "all_reduce_sum", "gather_objects", "broadcast_object",
    "shard", "ShardSampler", "seed_worker", "unwrap", "CPUSyncBatchNorm", "convert_sync_batchnorm",
]  # fmt: skip


def init_from_env(device: str | torch.device | None = None) -> torch.device:
    """Join the process group that torchrun describes in the environment, and return this process's device.

    Without torchrun (no ``WORLD_SIZE``, or 1) nothing is initialised and the device is
    :func:`~mnv3lib.devices.resolve_device`'s. Under torchrun, a CUDA device becomes
    ``cuda:LOCAL_RANK`` (one GPU per process) and the backend is NCCL; on the CPU it is gloo.
    """
    device = resolve_device(device)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if processes <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                             "start at most that many processes per node (--nproc_per_node)")  # fmt: skip
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ValueError(f"distributed training runs on CUDA (NCCL) or the CPU (gloo), not on {device.type}")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", device_id=device if device.type == "cuda" else None)
    return device


def shutdown() -> None:
    """Leave the process group (if any): the last call of a torchrun script."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """The number of processes training together (1 without a process group)."""
    return dist.get_world_size() if _initialised() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if _initialised() else 0


def is_main() -> bool:
    """Whether this process writes checkpoints, logs and progress bars (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a single process)."""
    if world_size() > 1:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over all processes (in place; returned for convenience). NCCL reduces CUDA
    tensors only, so a CPU tensor makes the trip through this process's GPU there."""
    if world_size() > 1:
        if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
            on_gpu = tensor.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            tensor.copy_(on_gpu)
        else:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(items: list[Any]) -> list[Any]:
    """Every process's ``items``, concatenated in rank order, on every process (e.g. COCO predictions)."""
    if world_size() == 1:
        return list(items)
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every process (e.g. the outcome of a check only rank 0 can make, such as
    claiming the run folder, so that every process stops with the same error)."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(dataset: Dataset) -> Dataset:
    """This process's share of ``dataset`` for evaluation: items ``rank, rank + N, ...``. The shares
    cover every item exactly once (unlike DistributedSampler, nothing is repeated to even them out), so
    counts added up over the processes are those of the whole set."""
    if world_size() == 1:
        return dataset
    return Subset(dataset, range(rank(), len(dataset), world_size()))


class ShardSampler(Sampler[int]):
    """One epoch's order of a training set, dealt out to the processes: what ``DistributedSampler`` with
    ``set_epoch`` does, with the permutation drawn from the run's epoch generator.

    The epoch's permutation is drawn when iteration starts (as ``RandomSampler`` draws it), cut to a
    multiple of the process count, and process ``r`` takes positions ``r, r + N, r + 2N, ...``. With
    batches of ``B`` per process, step ``i`` of all processes together sees positions
    ``i·B·N ... (i+1)·B·N - 1``: the same images as one process with batches of ``B·N``. In a single
    process it yields exactly ``RandomSampler(dataset, generator=generator)``'s order, so one-process
    runs are unchanged by the distributed machinery.
    """

    def __init__(self, size: int, generator: torch.Generator, *, num_replicas: int | None = None, rank: int | None = None) -> None:
        self.size, self.generator = size, generator
        self.num_replicas = world_size() if num_replicas is None else num_replicas
        self.rank = (dist.get_rank() if _initialised() else 0) if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"expected 0 <= rank < num_replicas, got rank {self.rank} of {self.num_replicas}")

    def __len__(self) -> int:
        return self.size // self.num_replicas

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        used = len(self) * self.num_replicas
        return iter(order[self.rank : used : self.num_replicas])


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn`` under torchrun: PyTorch seeds worker ``w`` of every process from the
    same base seed, so the processes' augmentations would repeat each other; this offsets them by rank."""
    seed = (torch.initial_seed() + 1_000_003 * rank()) % 2**63
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside ``DistributedDataParallel`` and ``torch.compile`` wrappers (itself if unwrapped)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


class _DifferentiableSum(torch.autograd.Function):
    """The sum over all processes, with its gradient: every process's output depends on every process's
    input, so the gradient of an input is the sum of the gradients of all processes' outputs."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        return all_reduce_sum(tensor.clone())

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return all_reduce_sum(grad.clone())


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the whole batch across all processes, on the CPU.

    PyTorch's ``SyncBatchNorm`` runs on GPUs only (and DistributedDataParallel refuses it on the CPU), so
    for gloo the per-process means and variances are combined with a differentiable all-reduce (in float64, so that
    the global variance ``E[x²] - E[x]²`` keeps its precision) and the gradient flows back through it:
    the CPU run is the same computation as one process over the whole batch, which the DDP tests check.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(input)
        channels = self.num_features
        dims = [0, *range(2, input.dim())]
        x = input.float()
        count = x.numel() // channels
        local_mean, local_var = x.mean(dims).double(), x.var(dims, unbiased=False).double()
        local = torch.cat([count * local_mean, count * (local_var + local_mean * local_mean), local_mean.new_full((1,), float(count))])
        total = _DifferentiableSum.apply(local)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels : 2 * channels] / n - mean * mean).clamp(min=0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        shape = [1, channels] + [1] * (input.dim() - 2)
        y = (x - mean.float().view(shape)) * torch.rsqrt(var.float().view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with every ``BatchNorm*d`` synchronised across processes (``--sync-bn``), in place.

    On CUDA that is PyTorch's ``SyncBatchNorm``; on the CPU, :class:`CPUSyncBatchNorm`. The new layers keep
    the old ones' parameters (the same ``Parameter`` objects) and statistics. Frozen BatchNorm (a
    detector's ``FrozenBatchNorm2d``) is left as it is.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, (nn.SyncBatchNorm, CPUSyncBatchNorm)):
            synced = CPUSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            if child.affine:
                synced.weight, synced.bias = child.weight, child.bias
            if child.track_running_stats:
                synced.running_mean, synced.running_var = child.running_mean, child.running_var
                synced.num_batches_tracked = child.num_batches_tracked
            synced.train(child.training)
            setattr(model, name, synced)
        else:
            convert_sync_batchnorm(child, device)
    return model
