"""How a norm declares its options, and the checks they share.

A norm's options are the fields of its `Options` dataclass (normbench/norms/<name>.py), each
made by `option(default, check, doc)`: the default lives there once, the check (a range or a
choice) beside it. The Hydra `norm` group is the union of every registered norm's fields
(registry.norm_config), so a sweep can cross norms with DyT's keys; a key is checked whatever
the norm (norm.alpha0=-1 is an error for layernorm too), then each norm takes its own fields.

A check is `check(key, value) -> value`, raising NormConfigError that names norm.<key>, the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any, Callable, Optional

import torch

from normbench.errors import NormConfigError

Check = Callable[[str, Any], Any]
CHECK, DOC = "check", "doc"  # field metadata keys


def option(default: Any, check: Check, doc: str = "") -> Any:
    """A field of a norm's Options: its default, its check and a line for the docs."""
    return dataclasses.field(default=default, metadata={CHECK: check, DOC: doc})


def fail(key: str, value: object, why: str):
    raise NormConfigError(f"norm.{key} = {value!r} {why}")


def _is_real(value: object) -> bool:
    # bool is an int in Python, but `alpha0: true` is a config mistake
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive(key: str, value: object) -> float:
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        fail(key, value, "is not allowed: must be a number > 0")
    return float(value)


def finite(key: str, value: object) -> float:
    if not _is_real(value) or not math.isfinite(value):
        fail(key, value, "is not allowed: must be a finite number")
    return float(value)


def boolean(key: str, value: object) -> bool:
    # the string "false" is truthy: accept only real booleans
    if not isinstance(value, bool):
        fail(key, value, "is not allowed: must be a bool (true or false)")
    return value


def positive_int(key: str, value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        fail(key, value, "is not allowed: must be an int >= 1")
    return int(value)


def nonempty_text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(key, value, "is not allowed: must be a non-empty string")
    return value


def unit_interval(key: str, value: object) -> float:
    """A number in (0, 1] (BatchNorm's momentum)."""
    if not _is_real(value) or not 0 < value <= 1:
        fail(key, value, "is not allowed: must be a number in (0, 1]")
    return float(value)


def choice(*allowed: str, aliases: Mapping[str, str] | None = None) -> Check:
    """One of `allowed`; an alias (an old name) is read as what it stands for."""
    def check(key: str, value: object) -> str:
        if aliases and isinstance(value, str) and value in aliases:
            return aliases[value]
        if not isinstance(value, str) or value not in allowed:
            fail(key, value, f"is unknown; allowed: {', '.join(allowed)}")
        return value
    check.allowed = allowed
    return check


def optional(check: Check) -> Check:
    """None, or what `check` allows (None: the norm's own default, or 'not set')."""
    def check_optional(key: str, value: object):
        return None if value is None else check(key, value)
    check_optional.inner = check
    return check_optional


def _device(key: str, value: object) -> object:
    if value is None:
        return None
    try:
        torch.device(value)
    except (TypeError, RuntimeError, ValueError):
        fail(key, value, "is not allowed: must be None or a torch device ('cpu', 'cuda:0', ...)")
    return value


def _dtype(key: str, value: object) -> torch.dtype | None:
    if value is not None and not (isinstance(value, torch.dtype) and value.is_floating_point):
        fail(key, value, "is not allowed: must be None or a floating torch.dtype")
    return value


# Norm positions of a transformer block that take their own alpha0 (norm.alpha0_<position>);
# read by the model (models/build.py), never passed to a norm's constructor.
POSITIONS = ("attn", "ffn", "final")
POSITION_KEYS = tuple(f"alpha0_{p}" for p in POSITIONS)
optional_positive = optional(positive)


@dataclasses.dataclass
class SharedOptions:
    """The `norm` keys that belong to no single norm."""

    # dyt in model=llama and model=vit: alpha0 per position (the paper's C6: attention wants a larger
    # one); null: norm.alpha0. attn: the norm before attention; ffn: before the MLP; final: before the
    # head (the ViT's fc_norm after pooling). A position's own alpha0 is fixed under alpha0_mode=data.
    alpha0_attn: Optional[float] = option(None, optional_positive, "alpha0 of the norms before attention (llama, vit)")
    alpha0_ffn: Optional[float] = option(None, optional_positive, "alpha0 of the norms before the MLP (llama, vit)")
    alpha0_final: Optional[float] = option(None, optional_positive, "alpha0 of the final norm (llama, vit)")
    # A localisation control: which norm places matter. Comma-separated globs over the model's module
    # names ("blocks.0.*", "norm,fc_norm"); those places get LayerNorm, every other one the norm. Image
    # models (model.norm_route=replace) only; a pattern that names no norm place is an error.
    layernorm_at: Optional[str] = option(None, optional(nonempty_text),
                                         "norm places that get LayerNorm instead (globs over module names; "
                                         "image models)")


# The keys only Python callers pass (timm's factory kwargs), with their checks.
FACTORY_KEYS: dict[str, Check] = {"device": _device, "dtype": _dtype}


def options_at(options: Mapping[str, object], position: str) -> dict:
    """The norm options for one position: alpha0 is norm.alpha0_<position> where that is set, and
    that layer starts there under norm.alpha0_mode=data too (it is not calibrated: the control of
    "the data rule in the blocks, a fixed alpha0 in the final norm")."""
    if position not in POSITIONS:
        raise NormConfigError(f"position = {position!r} is unknown; allowed: {', '.join(POSITIONS)}")
    own = options.get(f"alpha0_{position}")
    return dict(options) if own is None else {**options, "alpha0": own, "alpha0_mode": "fixed"}
