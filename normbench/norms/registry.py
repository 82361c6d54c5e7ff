"""The registry: a norm's config name -> its module, and build_norm.

Hydra's ``norm`` group names a layer (``norm=dyt``); models ask build_norm for
one at each place, with the layout of that place. Which options a norm uses is
decided by its own ``from_options``; here every option is validated first.
"""

import numbers

from torch import nn

from normbench.errors import NormConfigError

from .base import NormLayer
from .batchnorm import BatchNorm
from .dyt import DyT
from .groupnorm import GroupNorm
from .identity import Identity
from .instancenorm import InstanceNorm
from .layernorm import LayerNorm
from .options import resolve_options
from .rmsnorm import RMSNorm

_CLASSES: dict[str, type[NormLayer]] = {
    cls.norm_name: cls for cls in (BatchNorm, DyT, GroupNorm, Identity, InstanceNorm, LayerNorm, RMSNorm)
}
NORM_NAMES: tuple[str, ...] = tuple(sorted(_CLASSES))


def norm_class(name: object) -> type[NormLayer]:
    """The NormLayer class registered under name, else NormConfigError."""
    if not isinstance(name, str) or name not in _CLASSES:
        raise NormConfigError(f"norm.name = {name!r} is unknown; allowed: {', '.join(NORM_NAMES)}")
    return _CLASSES[name]


def supported_layouts(name: str) -> tuple[str, ...]:
    return norm_class(name).layouts


def check_build(name: str, layout: str, options: dict) -> tuple[type[NormLayer], dict]:
    """Everything that can be checked without num_features: name, options, layout."""
    cls = norm_class(name)
    opts = resolve_options(options)
    cls.check_layout(layout)
    return cls, opts


def build_norm(name: str, num_features: int, *, layout: str = "channels_last", **options) -> nn.Module:
    """A norm layer named as in configs/norm/ for num_features channels at a place with this layout."""
    cls, opts = check_build(name, layout, options)
    if not isinstance(num_features, numbers.Integral) or isinstance(num_features, bool) or num_features < 1:
        raise NormConfigError(f"num_features = {num_features!r} is not allowed: must be an int >= 1")
    return cls.from_options(int(num_features), layout, opts)
