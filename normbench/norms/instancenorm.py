"""InstanceNorm: per sample and channel over the spatial dims, with affine.

It is GroupNorm with one group per channel, so it reuses GroupNorm (affine by
default, unlike torch's InstanceNorm2d, and with no running statistics).
"""

from .base import CHANNELS_FIRST
from .groupnorm import GroupNorm
from .options import eps_or, factory_kwargs


class InstanceNorm(GroupNorm):
    norm_name = "instancenorm"

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True, bias: bool = True,
                 layout: str = CHANNELS_FIRST, device=None, dtype=None) -> None:
        super().__init__(num_features, num_groups=num_features, eps=eps, affine=affine, bias=bias,
                         layout=layout, device=device, dtype=dtype)

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "InstanceNorm":
        return cls(num_features, eps=eps_or(opts, 1e-5), affine=opts["affine"], bias=opts["bias"],
                   layout=layout, **factory_kwargs(opts))
