"""Which normalization-free method fits which model and norm, and applying one.

Why checked up front: `normfree=<name>` must fail before anything is built when it cannot work
(Fixup on a model without residual blocks it knows, Fixup beside a norm) and name what is
allowed, like a norm that does not fit a model. A transform written for one model's blocks
(fixup_vit, skipinit_resnet, ...) is listed by that model's ModelSpec (`normfree`, in its own
file); a method that fits every model (sigma_reparam) is listed here. What composes:
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

from .sigma_reparam import sigma_reparam

Transform = Callable[[nn.Module, Mapping[str, Any]], nn.Module]  # transform(model, normfree cfg), in place


@dataclass(frozen=True)
class Method:
    every_model: Transform | None = None  # the transform of a method that fits any model; else the models' own
    norms: tuple[str, ...] | None = None  # the norms it composes with; None: every norm
    why_norms: str = ""

    def transform_for(self, name: str, model_name: str) -> Transform | None:
        from normbench.models.registry import models

        spec = models().get(model_name)
        own = spec.normfree.get(name) if spec is not None else None
        return own or self.every_model

    def models(self, name: str) -> list[str]:
        """The models it fits."""
        from normbench.models.registry import models

        return sorted(m for m, spec in models().items() if self.every_model is not None or name in spec.normfree)


METHODS: dict[str, Method] = {
    "fixup": Method(norms=("identity",), why_norms="Fixup's init and scalar biases replace normalization"),
    "skipinit": Method(),
    "sigma_reparam": Method(every_model=lambda m, c: sigma_reparam(m)),
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
    if method.transform_for(name, model_name) is None:
        raise NormFreeConfigError(
            f"normfree={name} does not fit model={model_name}; models it fits: {', '.join(method.models(name))}"
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
    return METHODS[cfg["name"]].transform_for(cfg["name"], model_name)(model, cfg)
