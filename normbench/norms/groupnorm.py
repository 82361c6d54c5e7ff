"""GroupNorm on feature maps (channels_first only: it needs the spatial dims).

The divisibility of channels by num_groups is checked here with a message that
lists the group counts that would work at this place of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from normbench.errors import NormConfigError

from .base import CHANNELS_FIRST, NormLayer, register_norm
from .options import boolean, option, positive, positive_int


@register_norm
class GroupNorm(NormLayer, nn.GroupNorm):
    norm_name = "groupnorm"
    layouts = (CHANNELS_FIRST,)

    @dataclass
    class Options:
        num_groups: int = option(32, positive_int, "groups of channels (must divide every place's channels)")
        eps: float = option(1e-5, positive, "added to the variance")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")
        bias: bool = option(True, boolean, "per-channel bias (init zeros)")

    def __init__(self, num_features: int, layout: str = CHANNELS_FIRST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        num_groups = self._groups(num_features, o)
        if num_features % num_groups:
            divisors = [str(g) for g in range(1, num_features + 1) if num_features % g == 0]
            raise NormConfigError(
                f"norm.num_groups = {num_groups!r} does not divide the {num_features} channels; "
                f"allowed here: {', '.join(divisors)}"
            )
        super().__init__(num_groups, num_features, eps=o.eps, affine=o.affine, bias=o.bias, device=device, dtype=dtype)
        self.layout = layout

    def _groups(self, num_features: int, o) -> int:
        return o.num_groups
