"""The train loss and time since the last log, summed on the device and read once per window.

Why: reading the loss every step would sync the host with the device every step; the window
keeps the sum on the device and the loop reads it once per trainer.log_every steps. Its state
is in the checkpoint, so a run stopped between two logs and resumed logs the same mean loss as
one never stopped. Data-parallel: each rank sums its own; the mean read is over every rank's.
"""

from __future__ import annotations

import time

import torch

from normbench.dist import SINGLE, Dist


class TrainWindow:
    def __init__(self, device: torch.device, dist: Dist = SINGLE):
        self.loss = torch.zeros((), device=device)
        self.dist = dist
        self.reset()

    def reset(self) -> None:
        self.loss.zero_()
        self.steps, self.start, self.paused, self.before = 0, time.perf_counter(), 0.0, 0.0

    def state_dict(self) -> dict[str, float]:
        return {"loss": self.loss.item(), "steps": self.steps, "time": self.elapsed()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.reset()
        self.loss.fill_(state["loss"])
        self.steps, self.before = int(state["steps"]), float(state["time"])

    def add(self, loss: torch.Tensor) -> None:
        self.loss += loss
        self.steps += 1

    def mean_loss(self) -> float:
        """The mean train loss of the window over every rank (a collective under torchrun)."""
        if not self.steps:
            return float("nan")
        return self.dist.all_reduce_(self.loss / self.steps, op="mean").item()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused + self.before
