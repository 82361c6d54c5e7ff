"""GroupNorm on feature maps (channels_first only: it needs the spatial dims).

The divisibility of channels by num_groups is checked here with a message that
lists the group counts that would work at this place of the model.
"""

from torch import nn

from normbench.errors import NormConfigError

from .base import CHANNELS_FIRST, NormLayer
from .options import eps_or, factory_kwargs


class GroupNorm(NormLayer, nn.GroupNorm):
    norm_name = "groupnorm"
    layouts = (CHANNELS_FIRST,)

    def __init__(self, num_features: int, num_groups: int = 32, eps: float = 1e-5, affine: bool = True,
                 bias: bool = True, layout: str = CHANNELS_FIRST, device=None, dtype=None) -> None:
        layout = self.check_layout(layout)
        if num_features % num_groups:
            divisors = [str(g) for g in range(1, num_features + 1) if num_features % g == 0]
            raise NormConfigError(
                f"norm.num_groups = {num_groups!r} does not divide the {num_features} channels; "
                f"allowed here: {', '.join(divisors)}"
            )
        super().__init__(num_groups, num_features, eps=eps, affine=affine, bias=bias, device=device, dtype=dtype)
        self.layout = layout

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "GroupNorm":
        return cls(num_features, num_groups=opts["num_groups"], eps=eps_or(opts, 1e-5), affine=opts["affine"],
                   bias=opts["bias"], layout=layout, **factory_kwargs(opts))
