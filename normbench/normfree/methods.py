"""Which normalization-free method fits which model and norm, and applying one.

Why a table: `normfree=<name>` must fail before anything is built when it cannot work
(Fixup on a model without residual blocks it knows, Fixup beside a norm) and name what is
allowed, like a norm that does not fit a model. What composes:
- fixup needs norm=identity: its init and scalar biases stand in for normalization, and a
  norm after its zero-init layers would divide by a zero variance.
- skipinit and sigma_reparam compose with any norm (their papers also run them beside
  BatchNorm or LayerNorm); the normalization-free baselines of the paper use norm=identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from normbench.config.schema import NormFreeConfig, defaults_of
from normbench.errors import NormFreeConfigError

from .fixup import fixup_resnet, fixup_vit
from .sigma_reparam import sigma_reparam
from .skipinit import skipinit_convnext, skipinit_resnet, skipinit_vit

EVERY_MODEL = "*"  # a transform key that fits any model
Transform = Callable[[nn.Module, Mapping[str, Any]], nn.Module]


@dataclass(frozen=True)
class Method:
    transforms: Mapping[str, Transform]  # model name (or EVERY_MODEL) -> transform(model, cfg)
    norms: tuple[str, ...] | None = None  # the norms it composes with; None: every norm
    why_norms: str = ""

    def transform_for(self, model_name: str) -> Transform | None:
        return self.transforms.get(model_name) or self.transforms.get(EVERY_MODEL)


METHODS: dict[str, Method] = {
    "fixup": Method(
        transforms={"resnet": lambda m, c: fixup_resnet(m), "vit": lambda m, c: fixup_vit(m)},
        norms=("identity",),
        why_norms="Fixup's init and scalar biases replace normalization",
    ),
    "skipinit": Method(
        transforms={
            "vit": lambda m, c: skipinit_vit(m, c["gain_init"]),
            "convnext": lambda m, c: skipinit_convnext(m, c["gain_init"]),
            "resnet": lambda m, c: skipinit_resnet(m, c["gain_init"]),
        },
    ),
    "sigma_reparam": Method(transforms={EVERY_MODEL: lambda m, c: sigma_reparam(m)}),
}
NORMFREE_NAMES: tuple[str, ...] = ("none", *METHODS)
DEFAULTS = defaults_of(NormFreeConfig)


def check_normfree(cfg: Mapping[str, Any], model_name: str, norm_name: str) -> None:
    """Raise NormFreeConfigError unless normfree=<cfg.name> fits this model and norm."""
    name = cfg.get("name")
    if name not in NORMFREE_NAMES:
        raise NormFreeConfigError(f"normfree.name = {name!r} is unknown; allowed: {', '.join(NORMFREE_NAMES)}")
    if name == "none":
        return
    method = METHODS[name]
    if method.transform_for(model_name) is None:
        raise NormFreeConfigError(
            f"normfree={name} does not fit model={model_name}; models it fits: {', '.join(sorted(method.transforms))}"
        )
    if method.norms is not None and norm_name not in method.norms:
        raise NormFreeConfigError(
            f"normfree={name} does not fit norm={norm_name} ({method.why_norms}); "
            f"allowed: {', '.join('norm=' + n for n in method.norms)}"
        )


def apply_normfree(model: nn.Module, cfg: Mapping[str, Any], model_name: str, norm_name: str) -> nn.Module:
    """The model with normfree=<cfg.name> applied (in place); call before making the optimizer."""
    cfg = {**DEFAULTS, **dict(cfg)}
    check_normfree(cfg, model_name, norm_name)
    if cfg["name"] == "none":
        return model
    return METHODS[cfg["name"]].transform_for(model_name)(model, cfg)
