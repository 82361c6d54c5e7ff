"""Validation of the keys of the Hydra ``norm`` group (NormConfig in normbench/config/schema.py).

Every key is checked whatever the norm: in a sweep the same key crosses all
norms, so ``norm.alpha0=-1`` is an error for layernorm too. Each norm then takes
only the keys that apply to it (its ``from_options``). The schema gives the keys and
their defaults (one home, shared with configs/norm/*.yaml); this module the ranges and
choices, and the Python-only keys device and dtype.
"""

import math
import numbers
from collections.abc import Mapping

import torch

from normbench.config.schema import NormConfig, defaults_of
from normbench.errors import NormConfigError

SQUASHES = ("tanh", "hardtanh", "sigmoid", "identity")
# dyt: how DyT runs (normbench/norms/dyt.py); "torch", its first name, still means eager
IMPLS = ("auto", "eager", "fused", "compiled")
IMPL_ALIASES = {"torch": "eager"}
# adaln, adaln_zero: the normalisation under the modulation (normbench/norms/adaln.py)
CORES = ("layernorm", "dyt")

# The `norm` config keys (without `name`) with the schema's defaults, then the keys only
# Python callers pass (timm's factory kwargs).
DEFAULTS = {**defaults_of(NormConfig), "device": None, "dtype": None}


def _fail(key: str, value: object, why: str):
    raise NormConfigError(f"norm.{key} = {value!r} {why}")


def _is_real(value: object) -> bool:
    # bool is an int in Python, but `alpha0: true` is a config mistake
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive(key: str, value: object) -> float:
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        _fail(key, value, "is not allowed: must be a number > 0")
    return float(value)


def check_finite(key: str, value: object) -> float:
    if not _is_real(value) or not math.isfinite(value):
        _fail(key, value, "is not allowed: must be a finite number")
    return float(value)


def check_bool(key: str, value: object) -> bool:
    # the string "false" is truthy: accept only real booleans
    if not isinstance(value, bool):
        _fail(key, value, "is not allowed: must be a bool (true or false)")
    return value


def check_choice(key: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        _fail(key, value, f"is unknown; allowed: {', '.join(allowed)}")
    return value


def check_impl(value: object) -> str:
    """norm.impl, with the old name "torch" read as "eager"."""
    if isinstance(value, str) and value in IMPL_ALIASES:
        return IMPL_ALIASES[value]
    return check_choice("impl", value, IMPLS)


def _check_optional_positive(key: str, value: object) -> float | None:
    return None if value is None else check_positive(key, value)


def _check_eps(value: object) -> float | None:
    return None if value is None else check_positive("eps", value)


def _check_num_groups(value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        _fail("num_groups", value, "is not allowed: must be an int >= 1")
    return int(value)


def _check_momentum(value: object) -> float:
    if not _is_real(value) or not 0 < value <= 1:
        _fail("momentum", value, "is not allowed: must be a number in (0, 1]")
    return float(value)


def _check_device(value: object) -> object:
    if value is None:
        return None
    try:
        torch.device(value)
    except (TypeError, RuntimeError, ValueError):
        _fail("device", value, "is not allowed: must be None or a torch device ('cpu', 'cuda:0', ...)")
    return value


def _check_dtype(value: object) -> torch.dtype | None:
    if value is not None and not (isinstance(value, torch.dtype) and value.is_floating_point):
        _fail("dtype", value, "is not allowed: must be None or a floating torch.dtype")
    return value


_CHECKS = {
    "alpha0": lambda v: check_positive("alpha0", v),
    "squash": lambda v: check_choice("squash", v, SQUASHES),
    "learnable_alpha": lambda v: check_bool("learnable_alpha", v),
    "s0": lambda v: check_finite("s0", v),
    "affine": lambda v: check_bool("affine", v),
    "bias": lambda v: check_bool("bias", v),
    "eps": _check_eps,
    "num_groups": _check_num_groups,
    "momentum": _check_momentum,
    "impl": check_impl,
    "core": lambda v: check_choice("core", v, CORES),
    "zero_init": lambda v: check_bool("zero_init", v),
    **{f"alpha0_{p}": (lambda v, p=p: _check_optional_positive(f"alpha0_{p}", v)) for p in ("attn", "ffn", "final")},
    "device": _check_device,
    "dtype": _check_dtype,
}


def resolve_options(options: Mapping[str, object]) -> dict:
    """Check every given option and fill the rest with DEFAULTS."""
    for key, value in options.items():
        if key not in DEFAULTS:
            _fail(key, value, f"is not a known option; allowed: {', '.join(DEFAULTS)}")
    return {key: _CHECKS[key](options.get(key, default)) for key, default in DEFAULTS.items()}


def eps_or(opts: dict, default: float) -> float:
    """The configured eps, or the norm's own default when it is None."""
    return default if opts["eps"] is None else opts["eps"]


def factory_kwargs(opts: dict) -> dict:
    return {"device": opts["device"], "dtype": opts["dtype"]}


# Norm positions of a transformer block that take their own alpha0 (norm.alpha0_<position>).
POSITIONS = ("attn", "ffn", "final")
POSITION_KEYS = tuple(f"alpha0_{p}" for p in POSITIONS)


def options_at(options: Mapping[str, object], position: str) -> dict:
    """The norm options for one position: alpha0 is norm.alpha0_<position> where that is set."""
    if position not in POSITIONS:
        raise NormConfigError(f"position = {position!r} is unknown; allowed: {', '.join(POSITIONS)}")
    own = options.get(f"alpha0_{position}")
    return dict(options) if own is None else {**options, "alpha0": own}
