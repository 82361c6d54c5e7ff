"""InstanceNorm: per sample and channel over the spatial dims, with affine.

It is GroupNorm with one group per channel, so it reuses GroupNorm (affine by
default, unlike torch's InstanceNorm2d, and with no running statistics).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import register_norm
from .groupnorm import GroupNorm
from .options import boolean, option, positive


@register_norm
class InstanceNorm(GroupNorm):
    norm_name = "instancenorm"

    @dataclass
    class Options:
        eps: float = option(1e-5, positive, "added to the variance")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")
        bias: bool = option(True, boolean, "per-channel bias (init zeros)")

    def _groups(self, num_features: int, o) -> int:
        return num_features  # one group per channel
