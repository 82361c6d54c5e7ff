"""Data parallelism under torchrun: the process group, this process's rank, and the few
collectives the loop needs.

Why a module of its own: `torchrun --nproc_per_node=N train.py ...` starts N copies of the same
run; everything that differs between them (rank, device, which part of a batch) and every
message between them goes through the `Dist` that `setup()` returns, so the loop, the tasks and
the tracker ask one object instead of reading environment variables. Launched without torchrun
(or with one process), `setup()` returns SINGLE: no process group, and every collective here is
the identity, so a single-process run is exactly what it was before DDP existed.

What is global and what is per rank:
- data.batch_size is the global batch; rank r takes the r-th of `world_size` equal slices of it
  (`Dist.shard`), and the batch order stays a pure function of (seed, epoch/step): the union of
  the ranks' batches is the single-process batch.
- the augmentation generator and the global RNGs (dropout) are seeded per rank (`rank_seed`;
  rank 0 keeps the single-process seed), the model's initialisation is the same everywhere.
- rank 0 alone writes the run folder and wandb (the Tracker's guard); checkpoints gather every
  rank's RNG state to rank 0 (`gather_object`), and each rank restores its own.
Backends: nccl on cuda:LOCAL_RANK, gloo on the CPU; control messages (objects, the stop vote)
travel on a gloo group of their own, so they never make the host wait for the GPU nor queue
among the gradients' all-reduces.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist

from normbench.errors import TrainerConfigError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun (and torch.distributed.run) sets


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run; SINGLE when there is no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None  # the local rank's device; None: the loop resolves trainer.device
    backend: str | None = None
    cpu_group: Any = None  # a gloo group of its own for objects and votes

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_batch_size(self, batch_size: int, key: str = "data.batch_size") -> int:
        """The per-rank share of a global batch; a batch the ranks cannot share equally is an
        InputError naming the key, before anything is built."""
        if batch_size % self.world_size:
            raise TrainerConfigError(
                f"{key} = {batch_size} is not divisible by the world size {self.world_size} (torchrun's processes); "
                f"allowed: a multiple of {self.world_size} ({key} is the global batch, each process gets "
                f"{key} / {self.world_size})")
        return batch_size // self.world_size

    def shard(self, batch_size: int) -> slice:
        """This rank's slice of a global batch of batch_size samples."""
        local = self.local_batch_size(batch_size)
        return slice(self.rank * local, (self.rank + 1) * local)

    # -- collectives (the identity on one process) -----------------------------------------
    def all_reduce_(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In place over the ranks, on the tensor's device: op "sum" or "mean"."""
        if self.enabled:
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
            if op == "mean":
                tensor.div_(self.world_size)
        return tensor

    def sum_scalars(self, *values: torch.Tensor) -> list[float]:
        """Scalar tensors summed over the ranks, as Python numbers (one host sync, one all-reduce)."""
        if not self.enabled:
            return [v.item() for v in values]
        return self.all_reduce_(torch.stack([v.double() for v in values])).tolist()

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's obj, on every rank."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        torch_dist.broadcast_object_list(box, src=0, group=self.cpu_group)
        return box[0]

    def gather_object(self, obj: Any) -> list[Any] | None:
        """[obj of rank 0, obj of rank 1, ...] on rank 0; None on the others."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size if self.is_main else None
        torch_dist.gather_object(obj, out, dst=0, group=self.cpu_group)
        return out

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm's running statistics) on every rank, as DDP does before
        each training forward: a sharded evaluation then uses one model on every rank."""
        if self.enabled:
            for buf in module.buffers():
                torch_dist.broadcast(buf, src=0)


SINGLE = Dist()
_current: Dist | None = None


def launched() -> bool:
    """True in a process that torchrun started (its RANK and WORLD_SIZE are set)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE"))


def rank_seed(seed: int, rank: int) -> int:
    """The seed of a rank's own randomness (augmentation, dropout): rank 0 keeps the run's seed,
    so one process is unchanged; other ranks get seeds mixed from (seed, rank), unrelated to any
    other run's seed."""
    if rank == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0] >> 1)


def _device(name: str, local_rank: int) -> torch.device:
    """trainer.device under torchrun: auto/cuda -> cuda:LOCAL_RANK (cpu without CUDA for auto), cpu."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name in ("auto", "cuda"):
        if not torch.cuda.is_available():
            raise TrainerConfigError(f"trainer.device = {name!r} but no CUDA device is available; allowed here: auto, cpu")
        if local_rank >= torch.cuda.device_count():
            raise TrainerConfigError(
                f"trainer.device = {name!r}: LOCAL_RANK {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                "allowed: --nproc_per_node at most the number of GPUs, or trainer.device=cpu")
        return torch.device("cuda", local_rank)
    raise TrainerConfigError(f"trainer.device = {name!r} under torchrun; allowed: auto, cuda (each process takes "
                             "cuda:LOCAL_RANK), cpu")


def setup(device_name: str) -> Dist:
    """The Dist of this process: SINGLE unless torchrun started it with WORLD_SIZE > 1; then the
    process group is made once per process (a -m sweep's later jobs reuse it) and destroyed at exit.
    A process group the caller made itself is used as it is."""
    global _current
    if _current is not None and torch_dist.is_initialized():
        return _current  # a later job of a -m sweep: the group (and its device) of the first
    if not (launched() or torch_dist.is_initialized()):
        return SINGLE
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch_dist.is_initialized():
        rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
    else:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if world == 1:
        return SINGLE
    device = _device(device_name, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=backend, rank=rank, world_size=world)
        atexit.register(_destroy)
    else:
        backend = torch_dist.get_backend()
    # control messages on a gloo group of their own: off the GPU, and never queued among DDP's
    # gradient all-reduces (the stop vote is in flight during a step)
    cpu_group = torch_dist.new_group(backend="gloo")
    _current = Dist(rank=rank, world_size=world, local_rank=local_rank, device=device, backend=backend,
                    cpu_group=cpu_group)
    return _current


def _destroy() -> None:
    global _current
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    _current = None


class StopVote:
    """The ranks agree on when to stop after SIGTERM/Ctrl-C: each step boundary starts an
    asynchronous all-reduce (max) of this rank's signal number (0: none) on the gloo group and
    reads the one started at the boundary before, so every rank stops at the same step (one step
    after the first rank saw a signal), knowing the signal, without a host sync per step.
    On one process: the signal itself, at once."""

    def __init__(self, dist: Dist):
        self.dist = dist
        self.flag = torch.zeros(1, dtype=torch.int32)
        self.work = None

    def __call__(self, signum: int | None) -> int | None:
        if not self.dist.enabled:
            return signum
        agreed = self.finish()
        self.flag.fill_(int(signum or 0))
        self.work = torch_dist.all_reduce(self.flag, op=torch_dist.ReduceOp.MAX, group=self.dist.cpu_group,
                                          async_op=True)
        return agreed

    def finish(self) -> int | None:
        """Wait for the vote in flight (if any); the signal some rank got, or None."""
        if self.work is None:
            return None
        self.work.wait()
        self.work = None
        return int(self.flag.item()) or None
