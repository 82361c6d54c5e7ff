"""A model's one record: its config, the task it serves, how it is built and what fits it.

Why: each model file registers itself with one ModelSpec (register_model, registry.py), and
everything else is read from the records: the Hydra `model` schema and its ConfigStore nodes,
which task a model trains on, grad checkpointing, the normfree transforms that fit it. build.py
does the shared part once (config checks, norm fit, the no-stock-norm-left guarantee) for the
two ways a model takes its norms (`kind`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

# kind=IMAGE: build(cfg, num_classes=, in_chans=, img_size=, norm_layer=None) builds the stock model
# with its own norms (norm_layer=None) or with a norm factory; model.norm_route picks one of
# NORM_ROUTES: replace builds the stock model, then swaps its norms (the official DyT code's way);
# norm_layer hands the model a norm factory so it builds the configured norm itself.
IMAGE = "image"
NORM_ROUTES = ("replace", "norm_layer")
# kind=MAKE_NORM: build(cfg, make_norm, **sizes), where make_norm(position, num_features=None) -> the
# norm for that place (attn, ffn, final) and width (None: model.embed_dim); conditional norms
# (forward(x, c)) when the spec says `conditional`, else plain ones with norm.alpha0_<position> applied.
MAKE_NORM = "make_norm"
KINDS = (IMAGE, MAKE_NORM)

Transform = Callable[[nn.Module, Mapping[str, Any]], nn.Module]  # normfree transform(model, normfree cfg)
# A residual branch of a built model: (name, the module whose input is the residual stream the branch
# reads, the module whose output is what the branch adds to it). The probes measure both stds.
Branch = tuple[str, nn.Module, nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    # The `model=<name>` schema: a dataclass whose fields are the keys (name first) with their
    # defaults, the only place they are written.
    config: type
    task: str  # the task.name it trains on (its data gives build's sizes)
    build: Callable[..., nn.Module]
    # check(cfg, sizes[check_size]) raises ModelConfigError for a bad value; cfg has every key.
    check: Callable[[Mapping[str, Any], int], None]
    # Layouts the model's norm places see (all must be supported by the norm): per norm route for
    # kind=IMAGE, under the one key MAKE_NORM for kind=MAKE_NORM.
    layouts: Mapping[str, tuple[str, ...]]
    kind: str = IMAGE
    check_size: str = "img_size"
    # kind=IMAGE: stock norm class -> replacement layout (replace route); the factory's layout (norm_layer route)
    replace_targets: Mapping[type[nn.Module], str] = field(default_factory=dict)
    norm_layer_layout: str = "channels_last"
    # Norms whose layouts fit but that break at some norm place: norm name -> why.
    misfits: Mapping[str, str] = field(default_factory=dict)
    conditional: bool = False  # every norm place takes a conditioning vector, forward(x, c)
    # norm options the model's own keys set (llama: norm.bias is model.norm_bias): cfg -> options
    norm_options: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    # kind=IMAGE, replace route: a norm place's qualified name -> its position (attn, ffn, final; None:
    # none), so norm.alpha0_<position> applies there; None: the model has no positions (the keys are an error)
    positions: Callable[[str], str | None] | None = None
    grad_checkpointing: bool = False  # the built model has timm's set_grad_checkpointing()
    normfree: Mapping[str, Transform] = field(default_factory=dict)  # normfree.name -> its transform here
    # model -> its residual branches in forward order (probes: which branch grows the stream); None: not probed
    branches: Callable[[nn.Module], list[Branch]] | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """The model's keys (without name) and their defaults, from its config dataclass."""
        from normbench.config.schema import defaults_of  # not at import: normbench.config reads this registry

        return defaults_of(self.config)

    def route(self, cfg: Mapping[str, Any]) -> str:
        """The key of `layouts` a config builds with."""
        if self.kind == MAKE_NORM:
            return MAKE_NORM
        return cfg.get("norm_route", self.defaults["norm_route"])
