"""Data-parallel training with ``torch.distributed``: which rows each process trains on, and agreement.

Launched by ``torchrun --nproc_per_node N -m spikekit train ...``, every process reads its rank and the
world size from the environment torchrun sets. The ``--batch-size`` B is the *global* batch: global batch
``b`` of epoch ``e`` is the same B rows as in a single-process run (the keyed shuffle of (seed, e)), and
rank ``r`` of ``W`` trains on the ``r``-th of ``W`` contiguous near-equal parts of it. Each rank draws its
Poisson spikes from the stream keyed (seed, "train", e, b, "rank", r): distinct per rank, reproducible.
Each rank's loss is its summed cross-entropy times ``W / B``, so DistributedDataParallel's gradient
average equals the gradient of the mean loss over the whole global batch; the learning rate therefore
means what it means in a single-process run with batch B.
"""

from __future__ import annotations

import gc
import os
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor

from spikekit.errors import ConfigError


class Shard(NamedTuple):
    """This process's place in the job: rank ``rank`` of ``world_size`` (``Shard()`` is single-process)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone prints, writes metrics, checkpoints and reports."""
        return self.rank == 0

    def rows(self, index: Tensor) -> Tensor:
        """This rank's part of a global batch's row indices [B] (contiguous, near-equal parts)."""
        return index if self.world_size == 1 else torch.tensor_split(index, self.world_size)[self.rank]

    def keys(self, *keys: int | str) -> tuple[int | str, ...]:
        """Random-stream keys of this rank: unchanged single-process, with ("rank", r) appended otherwise."""
        return keys if self.world_size == 1 else (*keys, "rank", self.rank)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (float64; identity single-process)."""
        if self.world_size == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (for stopping all ranks at the same batch)."""
        return bool(self.sum([float(flag)])[0]) if self.world_size > 1 else flag


def shard_from_environment(device: str) -> Shard:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA).

    Without torchrun (no ``WORLD_SIZE`` > 1) this is ``Shard()`` and nothing is initialised.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Shard()
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run without torchrun")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    share_cores(int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size))))
    return Shard(dist.get_rank(), dist.get_world_size())


def share_cores(local_processes: int) -> None:
    """Give each of ``local_processes`` processes on this machine cores/N threads (``set_threads``):
    oversubscribed threads spin against each other and run slower than one thread each."""
    set_threads(max(1, (os.cpu_count() or 1) // local_processes))


def set_threads(threads: int) -> None:
    """Run torch's and numba's parallel work on ``threads`` threads each.

    numba first: starting its OpenMP pool (on first use) resets the OpenMP thread count that torch
    reads too, so a torch setting made before it is silently lost. Two test ranks that had set torch
    to 1 thread ran Adam on 2, and about one run in four their weights came out different from
    identical gradients (reproduced; not seen in 14 runs with the pools set in this order).
    """
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(threads)


def leave() -> None:
    """Leave the process group, if one was joined.

    Call it after the DistributedDataParallel wrapper is out of scope: garbage is collected first so
    the wrapper's reducer is gone before the group; one outliving the group made gloo abort the rank
    at exit ("terminate called without an active exception"), seen in CI.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
