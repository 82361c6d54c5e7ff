"""The learnable scalars that normalization-free methods add to a network.

Why their own modules: a scalar put into a norm's empty slot (timm's `norm1`, `ls1`, ...)
keeps timm's forward untouched and gives the scalar a name a probe or a reader can find.
Each holds one 0-dim parameter, so timm's optimizer factory keeps it out of weight decay,
as it does every 1-D parameter.
"""

from __future__ import annotations

import torch
from torch import nn


class Shift(nn.Module):
    """x + b, b a scalar (init 0): Fixup's bias before a conv, linear or activation."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class ScaleShift(nn.Module):
    """x * s + b, s and b scalars (init 1 and 0): the end of a Fixup residual branch."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


class Gain(nn.Module):
    """a * x, a a scalar (SkipInit's residual-branch multiplier, init 0 by default)."""

    def __init__(self, init: float = 0.0) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.full((), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain
