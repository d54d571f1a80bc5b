"""Data-parallel training under ``torchrun``: process group, sampler, rank-0-only output.

``torchrun --nproc-per-node N [--nnodes M --node-rank R --rdzv-endpoint HOST:PORT] -m convzoo.cli
train ...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` then joins
the process group (NCCL on GPUs, gloo on CPUs) and each process trains on its share of every
global batch with DistributedDataParallel, which averages the gradients, so N processes with a
per-process batch B compute what one process computes with a batch of N x B.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def dist_info() -> DistInfo:
    """Rank and world size of this process (1 process when no group is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        )
    return DistInfo()


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1); else do nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistInfo()
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist_info()


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class EpochSampler(Sampler[int]):
    """A seeded shuffle per epoch, sharded over processes, that can start part-way.

    The indices are those of torch's ``DistributedSampler`` (``randperm`` seeded with
    ``seed + epoch``, padded to a multiple of the world size, rank r taking every world-th index
    from r), so with one process it is a plain seeded shuffle and with N processes the union of
    the N per-process batches at step t is the single-process batch at step t with N times the
    batch size. ``start`` skips the first indices of this process's share: a resumed run carries
    on from the batch where it stopped without loading the skipped images.
    """

    def __init__(
        self, n: int, *, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1
    ):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start = 0
        self.num_samples = math.ceil(n / world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.num_samples * self.world_size
        order += order[: total - len(order)]  # pad as DistributedSampler does
        return order[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


def count_batches(n: int, batch_size: int) -> int:
    """Batches of :class:`EpochBatches` in an epoch of ``n`` images: a last batch of a single
    image is merged into the one before it."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


class EpochBatches(Sampler[list[int]]):
    """The :class:`EpochSampler`'s indices in batches of ``batch_size``, where a last batch of a
    single image joins the batch before it (which then holds ``batch_size + 1``).

    In training mode BatchNorm cannot normalise one value per channel ("Expected more than 1
    value per channel"), so a batch of one would crash every BN network whenever the training
    set is one more than a multiple of the batch. Merging keeps every image in the epoch and is
    decided from the counts alone, so a resumed run batches exactly as the uninterrupted one.
    """

    def __init__(self, sampler: EpochSampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        order = self.sampler.indices()
        b = self.batch_size
        n_batches = count_batches(len(order), b)
        first = self.sampler.start // b  # a resumed run starts at a batch boundary
        for i in range(first, n_batches):
            end = len(order) if i == n_batches - 1 else (i + 1) * b
            yield order[i * b : end]

    def __len__(self) -> int:
        return count_batches(self.sampler.num_samples, self.batch_size) - (
            self.sampler.start // self.batch_size
        )


class DDPWrap:
    """The one place the model is wrapped in DistributedDataParallel (under torchrun only).

    Called at each epoch's start; it wraps anew only when the set of trainable parameters has
    changed (staged unfreezing), since DDP synchronises only the gradients of the parameters
    that required them when it was built.
    """

    def __init__(self, info: DistInfo, device: torch.device):
        self.info, self.device = info, device
        self._trainable: tuple[bool, ...] | None = None
        self._net: nn.Module | None = None

    def __call__(self, model: nn.Module) -> nn.Module:
        if not self.info.enabled:
            return model
        trainable = tuple(p.requires_grad for p in model.parameters())
        if self._net is None or trainable != self._trainable:
            self._net = nn.parallel.DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=False,
            )
            self._trainable = trainable
        return self._net


class ShardSampler(Sampler[int]):
    """Every world-th index from ``rank``, no padding: evaluation counts each image once."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1):
        self.idx = list(range(rank, n, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over processes (a no-op with one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_process(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on one (a Ctrl-C): every process must stop
    at the same step, or one would wait forever in the next all-reduce."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def training_loaders(
    train: Dataset, val: Dataset, cfg: Any, info: DistInfo, *, pin_memory: bool
) -> tuple[EpochSampler, DataLoader, DataLoader]:
    """The training loader (a seeded shuffle per epoch, this process's share, batches that
    never leave one image alone) with its sampler, and the validation loader (each image
    once over all processes, twice the batch: no gradients)."""
    sampler = EpochSampler(
        len(train),  # type: ignore[arg-type]
        seed=cfg.seed,
        rank=info.rank,
        world_size=info.world_size,
    )
    train_loader = DataLoader(
        train,
        batch_sampler=EpochBatches(sampler, cfg.batch_size),
        num_workers=cfg.workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    val_loader = DataLoader(
        val,
        batch_size=2 * cfg.batch_size,
        sampler=ShardSampler(len(val), info.rank, info.world_size),  # type: ignore[arg-type]
        num_workers=cfg.workers,
        pin_memory=pin_memory,
    )
    return sampler, train_loader, val_loader
