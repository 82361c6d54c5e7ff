"""Training batches as an endless, exactly resumable stream; evaluation batches in order.

The permutation of epoch e is drawn from a generator seeded by (seed, e), so the
whole data order is a pure function of the seed: a checkpoint stores only
{seed, epoch, index} and a resumed run sees exactly the batches it would have
seen without the interruption.

Data-parallel (torchrun): batch_size is the global batch and every rank walks the same
order; rank r takes the r-th of world_size equal slices of each global batch, so the ranks'
batches together are the single-process batch, and the state (a global position) is the
same on every rank and for any number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from normbench.errors import DataError


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch `epoch`: a permutation of range(n) that depends only on (seed, epoch)."""
    # SeedSequence mixes the pair well: nearby (seed, epoch) pairs give unrelated streams.
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint64)
    gen = torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
    return torch.randperm(n, generator=gen)


class BatchStream:
    """Infinite iterator of shuffled (x, y) batches over epochs; the last partial batch is dropped.

    State: ``epoch`` and ``index`` (the position in that epoch's permutation of the
    next sample), plus the ``seed``. Batches are CPU tensors (or wherever x, y live).
    With ``world_size`` > 1 each batch is rank ``rank``'s slice of the global batch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        if len(x) != len(y):
            raise DataError(f"{len(x)} inputs but {len(y)} labels")
        if not 1 <= batch_size <= len(x):
            # drop_last with batch_size > N would yield nothing, forever
            raise DataError(f"data.batch_size = {batch_size} is not allowed: must be between 1 and the data set size {len(x)}")
        if batch_size % world_size or not 0 <= rank < world_size:
            raise DataError(f"data.batch_size = {batch_size} cannot be shared by {world_size} processes "
                            f"(rank {rank}); allowed: a multiple of the world size")
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        local = self.batch_size // world_size
        self._shard = (rank * local, (rank + 1) * local)  # this rank's part of each global batch
        self.seed, self.epoch, self.index = int(seed), 0, 0
        self._perm: torch.Tensor | None = None
        self._perm_epoch = -1

    @property
    def batches_per_epoch(self) -> int:
        return len(self.x) // self.batch_size

    def _permutation(self) -> torch.Tensor:
        if self._perm_epoch != self.epoch:
            self._perm = epoch_permutation(len(self.x), self.seed, self.epoch)
            self._perm_epoch = self.epoch
        return self._perm  # type: ignore[return-value]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.index + self.batch_size > len(self.x):
            self.epoch, self.index = self.epoch + 1, 0
        start, stop = self._shard
        idx = self._permutation()[self.index + start : self.index + stop]
        self.index += self.batch_size
        return self.x[idx], self.y[idx]

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        index = int(state["index"])
        if not 0 <= index <= len(self.x):
            raise DataError(f"BatchStream state index {index} is outside the data set (size {len(self.x)})")
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), index
        self._perm_epoch = -1  # the cached permutation may belong to another seed


def eval_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every sample exactly once, in order; the last batch may be smaller."""
    if batch_size < 1:
        raise DataError(f"data.eval_batch_size = {batch_size} is not allowed: must be >= 1")
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]
