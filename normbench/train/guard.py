"""The divergence guard: a run whose loss or weights turn non-finite (or whose loss exceeds
trainer.max_loss) stops as "diverged", and never writes a checkpoint after that point.

It reads the loss once per log window (no host sync per step) and, before every
checkpoint, the loss of the window so far and the weights, so a checkpoint with NaN
weights can never replace the last good one, whatever ckpt_every and log_every are.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Diverged(Exception):
    def __init__(self, step: int, loss: float, why: str):
        super().__init__(f"diverged at step {step}: {why}")
        self.step, self.loss, self.why = step, loss, why

    def record(self) -> dict:
        return {"step": self.step, "loss": self.loss if math.isfinite(self.loss) else str(self.loss), "why": self.why}


def check_loss(step: int, loss: float, max_loss: float) -> None:
    if not math.isfinite(loss):
        raise Diverged(step, loss, f"train loss is {loss}")
    if loss > max_loss:
        raise Diverged(step, loss, f"train loss {loss:.4g} > trainer.max_loss = {max_loss:g}")


@torch.no_grad()
def check_weights(step: int, model: nn.Module, loss: float) -> None:
    flags = [torch.isfinite(p).all() for p in model.parameters()]
    if flags and not bool(torch.stack(flags).all()):  # one host sync
        raise Diverged(step, loss, "non-finite weights")
