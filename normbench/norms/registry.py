"""The registry: a norm's config name -> its module, and build_norm.

Hydra's ``norm`` group names a layer (``norm=dyt``); models ask build_norm for
one at each place, with the layout of that place. Which options a norm uses is
decided by its own ``from_options``; here every option is validated first.
"""

import numbers

from torch import nn

from normbench.errors import NormConfigError

from .adaln import AdaLN, AdaLNZero
from .base import CHANNELS_LAST, NormLayer
from .batchnorm import BatchNorm
from .derf import Derf
from .dyt import DyT
from .groupnorm import GroupNorm
from .identity import Identity
from .instancenorm import InstanceNorm
from .layernorm import LayerNorm
from .options import resolve_options
from .rmsnorm import RMSNorm

_CLASSES: dict[str, type[NormLayer]] = {
    cls.norm_name: cls for cls in (BatchNorm, Derf, DyT, GroupNorm, Identity, InstanceNorm, LayerNorm, RMSNorm)
}
_CLASSES.update({cls.norm_name: cls for cls in (AdaLN, AdaLNZero)})  # conditional: forward(x, c)
NORM_NAMES: tuple[str, ...] = tuple(sorted(_CLASSES))
CONDITIONAL_NORM_NAMES: tuple[str, ...] = tuple(n for n in NORM_NAMES if _CLASSES[n].conditional)


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


def build_conditional_norm(name: str, num_features: int, *, gated: bool | None = None, cond_dim: int | None = None,
                           **options) -> nn.Module:
    """A conditional norm (adaln, adaln_zero) for a place that also says whether its residual
    branch is gated (gated=False: DiT's final norm; None: the norm's own default) and the size of
    the conditioning vector (None: num_features)."""
    cls, opts = check_build(name, CHANNELS_LAST, options)
    if not cls.conditional:
        raise NormConfigError(f"norm.name = {name!r} takes no conditioning vector; allowed here: "
                              f"{', '.join(CONDITIONAL_NORM_NAMES)}")
    return cls.from_options(int(num_features), CHANNELS_LAST, opts, gated=gated, cond_dim=cond_dim)
