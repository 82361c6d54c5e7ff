"""build_model: one entry point from the `model` and `norm` config groups to a model.

Why one place: the norm-fit check, the two norm routes and the guarantee that no stock
norm is left are the same for every model family, so they live here once; the model
files (vit.py, convnext.py, resnet.py, vgg.py) only say how each family is built.
The language model (llama.py, task=lm) has no stock version and builds each norm for its
position (norm.alpha0_<position>); it shares the config and norm-fit checks. So does the
generative model (dit.py, task=generate), whose norms are conditional, forward(x, c).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from torch import nn

from normbench.errors import ModelConfigError
from normbench.norms import split_norm_config
from normbench.norms.options import POSITION_KEYS, options_at

from . import convnext, dit, llama, resnet, vgg, vit
from .config import to_plain_dict, with_defaults
from .fit import check_conditioning, check_norm_fits, fitting_norms
from .find_norms import assert_all_norms_replaced
from .replace import replace_norms
from .spec import ModelSpec

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (convnext.SPEC, resnet.SPEC, vgg.SPEC, vit.SPEC)}
LM_MODELS = {"llama": llama}  # language models (task=lm): module with DEFAULTS, check, build, MISFITS
# generative models (task=generate): module with DEFAULTS, check, build, MISFITS, LAYOUT; conditional norms
GEN_MODELS = {"dit": dit}
MODEL_NAMES: tuple[str, ...] = tuple(sorted([*MODELS, *LM_MODELS, *GEN_MODELS]))
MODEL_TASKS: dict[str, str] = {**{name: "classify" for name in MODELS}, **{name: "lm" for name in LM_MODELS},
                               **{name: "generate" for name in GEN_MODELS}}


def check_model_fits_task(model_name: str, task: str) -> None:
    """Raise ModelConfigError unless model=<model_name> is known and trains on `task`."""
    if model_name not in MODEL_TASKS:
        raise ModelConfigError(f"model.name = {model_name!r} is unknown; allowed: {', '.join(MODEL_NAMES)}")
    need = MODEL_TASKS.get(model_name)
    if need is not None and need != task:
        fitting = sorted(n for n, t in MODEL_TASKS.items() if t == task)
        raise ModelConfigError(
            f"model={model_name} needs task={need}, not task={task}; "
            f"models for task={task}: {', '.join(fitting) or 'none'} (or set task={need})"
        )


def check_model_fits_norm(model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any]) -> None:
    """What of the norm-fit check needs no data sizes, before the task loads data (or trains the
    judge of task=generate): a conditional norm (adaln, adaln_zero) on a model that passes no
    conditioning vector, or a plain norm on model=dit, is a ModelConfigError naming the fitting
    norms. An unknown model or norm is left to build_model, which names the allowed ones."""
    from normbench.norms import norm_names

    name, norm_name = model_cfg.get("name"), norm_cfg.get("name")
    if norm_name not in norm_names():
        return
    module = GEN_MODELS.get(name) or LM_MODELS.get(name)
    if module is not None:
        check_norm_fits(norm_name, name, (module.LAYOUT,), misfits=module.MISFITS,
                        conditional=getattr(module, "CONDITIONAL", False))
    elif name in MODELS:
        spec = MODELS[name]
        layouts = spec.layouts.get(model_cfg.get("norm_route", spec.defaults["norm_route"]))
        if layouts is not None:  # a bad route is resolve_model_config's error
            check_conditioning(norm_name, name, False, fitting_norms(layouts, spec.misfits))


def resolve_model_config(model_cfg: Mapping[str, Any], img_size: int) -> tuple[ModelSpec, dict[str, Any]]:
    """(spec, complete checked model config): defaults filled in, unknown keys rejected."""
    cfg = to_plain_dict(model_cfg, "model")
    name = cfg.get("name")
    if name in LM_MODELS or name in GEN_MODELS:
        what = "a language model (task=lm)" if name in LM_MODELS else "a generative model (task=generate)"
        raise ModelConfigError(f"model.name = {name!r} is {what}; this builds image classifiers: "
                               f"{', '.join(sorted(MODELS))}")
    if name not in MODELS:
        raise ModelConfigError(f"model.name = {name!r} is unknown; allowed: {', '.join(MODEL_NAMES)}")
    spec = MODELS[name]
    cfg = with_defaults(cfg, spec.defaults, name)
    spec.check(cfg, img_size)
    return spec, cfg


def build_stock_model(model_cfg: Mapping[str, Any], *, num_classes: int, in_chans: int, img_size: int) -> nn.Module:
    """The model with its stock norms (timm's LayerNorm / BatchNorm), before any replacement:
    the reference for counting norm places and for comparisons."""
    spec, cfg = resolve_model_config(model_cfg, img_size)
    return spec.build(cfg, num_classes=num_classes, in_chans=in_chans, img_size=img_size)


def build_model(model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any], **sizes: int) -> nn.Module:
    """Build model `model_cfg.name` with the norm of `norm_cfg` in every norm place.

    sizes: what the task's data says (Task.model_kwargs): num_classes, in_chans and img_size
    for an image model; vocab_size and context_length for a language model.
    Raises ModelConfigError for a bad model config or a norm that does not fit the model
    (before building); the norm library's NormConfigError passes through unchanged.
    """
    name = to_plain_dict(model_cfg, "model").get("name")
    if name in LM_MODELS:
        return _build_language_model(model_cfg, norm_cfg, **sizes)
    if name in GEN_MODELS:
        return _build_generative_model(model_cfg, norm_cfg, **sizes)
    return _build_image_model(model_cfg, norm_cfg, **sizes)


def _build_language_model(model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any], *, vocab_size: int,
                          context_length: int) -> nn.Module:
    from normbench.norms import build_norm, norm_factory

    cfg = to_plain_dict(model_cfg, "model")
    module = LM_MODELS[cfg["name"]]
    cfg = with_defaults(cfg, module.DEFAULTS, cfg["name"])
    module.check(cfg, context_length)
    norm_name, norm_options = split_norm_config(norm_cfg)
    check_norm_fits(norm_name, cfg["name"], (module.LAYOUT,), misfits=module.MISFITS)
    # the model's biases are model.norm_bias (LLaMA has none), not norm.bias
    norm_options = {**norm_options, "bias": bool(cfg["norm_bias"])}
    norm_factory(norm_name, layout=module.LAYOUT, **norm_options)  # bad norm options fail now, not mid-build

    def make_norm(position: str) -> nn.Module:
        return build_norm(norm_name, cfg["embed_dim"], layout=module.LAYOUT, **options_at(norm_options, position))

    return module.build(cfg, make_norm, vocab_size=vocab_size, context_length=context_length)


def _build_generative_model(model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any], *, num_classes: int,
                            in_chans: int, img_size: int) -> nn.Module:
    from normbench.norms import build_conditional_norm

    cfg = to_plain_dict(model_cfg, "model")
    module = GEN_MODELS[cfg["name"]]
    cfg = with_defaults(cfg, module.DEFAULTS, cfg["name"])
    module.check(cfg, img_size)
    norm_name, norm_options = split_norm_config(norm_cfg)
    check_norm_fits(norm_name, cfg["name"], (module.LAYOUT,), misfits=module.MISFITS, conditional=True)
    for key in POSITION_KEYS:  # a silently ignored key would mislabel a study's runs
        if norm_options.get(key) is not None:
            raise ModelConfigError(f"norm.{key} = {norm_options[key]!r} applies to model=llama only; "
                                   f"allowed with model={cfg['name']}: null (norm.alpha0 sets every norm)")
    build_conditional_norm(norm_name, cfg["embed_dim"], **norm_options)  # bad norm options fail now

    def make_norm(position: str) -> nn.Module:  # the final norm has no residual branch to gate
        gated = False if position == "final" else None
        return build_conditional_norm(norm_name, cfg["embed_dim"], gated=gated, **norm_options)

    return module.build(cfg, make_norm, num_classes=num_classes, in_chans=in_chans, img_size=img_size)


def _build_image_model(model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any], *, num_classes: int,
                       in_chans: int, img_size: int) -> nn.Module:
    from normbench.norms import norm_factory

    spec, cfg = resolve_model_config(model_cfg, img_size)
    norm_name, norm_options = split_norm_config(norm_cfg)
    for key in POSITION_KEYS:  # a silently ignored key would mislabel a study's runs
        if norm_options.get(key) is not None:
            raise ModelConfigError(f"norm.{key} = {norm_options[key]!r} applies to model=llama only; "
                                   f"allowed with model={spec.name}: null (norm.alpha0 sets every norm)")
    route = cfg["norm_route"]
    hint = ""
    if route == "replace" and set(spec.layouts["norm_layer"]) != set(spec.layouts["replace"]):
        other = "/".join(spec.layouts["norm_layer"])
        hint = f" (or set model.norm_route=norm_layer, where its norm places are {other})"
    check_norm_fits(norm_name, spec.name, spec.layouts[route], hint=hint, misfits=spec.misfits)
    for layout in spec.layouts[route]:  # bad norm options fail now (NormConfigError), not mid-build
        norm_factory(norm_name, layout=layout, **norm_options)

    sizes = {"num_classes": num_classes, "in_chans": in_chans, "img_size": img_size}
    if route == "replace":
        model = spec.build(cfg, **sizes)
        replace_norms(model, norm_cfg, targets=spec.replace_targets)
    else:
        factory = norm_factory(norm_name, layout=spec.norm_layer_layout, **norm_options)
        # timm's get_norm_layer accepts only classes, functions and partials
        model = spec.build(cfg, **sizes, norm_layer=functools.partial(factory))
    assert_all_norms_replaced(model, spec.name)
    return model
