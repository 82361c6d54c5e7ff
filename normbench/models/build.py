"""build_model: one entry point from the `model` and `norm` config groups to a model.

Why one place: the norm-fit check, the ways a model takes its norms and the guarantee that no
stock norm is left are the same for every model, so they live here once; a model file (vit.py,
llama.py, ...) registers one ModelSpec (spec.py, registry.py) saying how it is built. Image
classifiers (kind=image: vit, convnext, resnet, vgg) are built with stock norms and have them
replaced, or are handed a norm factory (model.norm_route). The others (kind=make_norm) ask for
the norm of each position: the language model (llama.py, task=lm) a plain norm with
norm.alpha0_<position>, the generative model (dit.py, task=generate) a conditional one, forward(x, c).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from torch import nn

from normbench.errors import ModelConfigError
from normbench.norms import split_norm_config
from normbench.norms.options import POSITION_KEYS, options_at

from .config import to_plain_dict, with_defaults
from .find_norms import assert_all_norms_replaced
from .fit import check_conditioning, check_norm_fits, fitting_norms
from .registry import model_names, model_tasks, models
from .replace import replace_norms
from .spec import IMAGE, MAKE_NORM, ModelSpec


def __getattr__(name: str) -> Any:  # read from the registry when asked: a plugin may have added a model
    if name == "MODEL_NAMES":
        return model_names()
    if name == "MODEL_TASKS":
        return model_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _spec(name: object) -> ModelSpec:
    spec = models().get(name) if isinstance(name, str) else None
    if spec is None:
        raise ModelConfigError(f"model.name = {name!r} is unknown; allowed: {', '.join(model_names())}")
    return spec


def check_model_fits_task(model_name: str, task: str) -> None:
    """Raise ModelConfigError unless model=<model_name> is known and trains on `task`."""
    tasks = model_tasks()
    if model_name not in tasks:
        raise ModelConfigError(f"model.name = {model_name!r} is unknown; allowed: {', '.join(model_names())}")
    need = tasks[model_name]
    if need != task:
        fitting = sorted(n for n, t in tasks.items() if t == task)
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
    spec = models().get(name) if isinstance(name, str) else None
    if norm_name not in norm_names() or spec is None:
        return
    layouts = spec.layouts.get(spec.route(model_cfg))
    if layouts is None:  # a bad route is resolve_model_config's error
        return
    if spec.kind == MAKE_NORM:
        check_norm_fits(norm_name, name, layouts, misfits=spec.misfits, conditional=spec.conditional)
    else:
        check_conditioning(norm_name, name, spec.conditional, fitting_norms(layouts, spec.misfits, spec.conditional))


def _resolve(model_cfg: Mapping[str, Any], size: int, kind: str) -> tuple[ModelSpec, dict[str, Any]]:
    cfg = to_plain_dict(model_cfg, "model")
    spec = _spec(cfg.get("name"))
    if spec.kind != kind:
        fitting = sorted(n for n, s in models().items() if s.kind == kind)
        raise ModelConfigError(f"model.name = {spec.name!r} is a model of task={spec.task} (kind={spec.kind}); "
                               f"this builds kind={kind}: {', '.join(fitting)}")
    cfg = with_defaults(cfg, spec.defaults, spec.name)
    spec.check(cfg, size)
    return spec, cfg


def resolve_model_config(model_cfg: Mapping[str, Any], img_size: int) -> tuple[ModelSpec, dict[str, Any]]:
    """(spec, complete checked model config) of an image classifier (kind=image): defaults filled
    in, unknown keys rejected."""
    return _resolve(model_cfg, img_size, IMAGE)


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
    spec = _spec(to_plain_dict(model_cfg, "model").get("name"))
    if spec.kind == MAKE_NORM:
        return _build_make_norm_model(spec, model_cfg, norm_cfg, **sizes)
    return _build_image_model(model_cfg, norm_cfg, **sizes)


def _reject_layernorm_at(norm_options: Mapping[str, Any], model_name: str, route: str | None = None) -> None:
    if norm_options.get("layernorm_at") is not None:  # ignored silently, it would mislabel the runs
        where = "model.norm_route=replace" if route is not None else "image models (vit, convnext, resnet, vgg)"
        raise ModelConfigError(f"norm.layernorm_at = {norm_options['layernorm_at']!r} applies to {where} only; "
                               f"allowed with model={model_name}" + (f" (norm_route={route})" if route else "")
                               + ": null")


def _reject_position_keys(norm_options: Mapping[str, Any], model_name: str, hint: str = "") -> None:
    for key in POSITION_KEYS:  # a silently ignored key would mislabel a study's runs
        if norm_options.get(key) is not None:
            positional = sorted(n for n, s in models().items()
                                if (s.kind == MAKE_NORM and not s.conditional) or s.positions is not None)
            raise ModelConfigError(f"norm.{key} = {norm_options[key]!r} applies to model={'/'.join(positional)} "
                                   f"only{hint}; allowed with model={model_name}: null (norm.alpha0 sets every norm)")


def _build_make_norm_model(spec: ModelSpec, model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any],
                           **sizes: int) -> nn.Module:
    from normbench.norms import build_conditional_norm, build_norm, norm_factory

    _, cfg = _resolve(model_cfg, sizes[spec.check_size], MAKE_NORM)
    (layout,) = spec.layouts[MAKE_NORM]
    norm_name, norm_options = split_norm_config(norm_cfg)
    check_norm_fits(norm_name, spec.name, (layout,), misfits=spec.misfits, conditional=spec.conditional)
    if spec.norm_options is not None:
        norm_options = {**norm_options, **spec.norm_options(cfg)}
    default_dim = cfg.get("embed_dim")  # a norm place of another width passes its own

    def width(position: str, num_features: int | None) -> int:
        if num_features is None and default_dim is None:
            raise ModelConfigError(f"model={spec.name} asked make_norm({position!r}) for a norm without its width; "
                                   "allowed: make_norm(position, num_features), or a model.embed_dim key")
        return default_dim if num_features is None else num_features

    _reject_layernorm_at(norm_options, spec.name)
    if spec.conditional:
        _reject_position_keys(norm_options, spec.name)
        build_conditional_norm(norm_name, default_dim or 1, **norm_options)  # bad norm options fail now, not mid-build

        def make_norm(position: str, num_features: int | None = None) -> nn.Module:
            gated = False if position == "final" else None  # the final norm has no residual branch to gate
            return build_conditional_norm(norm_name, width(position, num_features), gated=gated, **norm_options)
    else:
        norm_factory(norm_name, layout=layout, **norm_options)  # bad norm options fail now, not mid-build

        def make_norm(position: str, num_features: int | None = None) -> nn.Module:
            return build_norm(norm_name, width(position, num_features), layout=layout,
                              **options_at(norm_options, position))

    return spec.build(cfg, make_norm, **sizes)


def _build_image_model(model_cfg: Mapping[str, Any], norm_cfg: Mapping[str, Any], *, num_classes: int,
                       in_chans: int, img_size: int) -> nn.Module:
    from normbench.norms import norm_factory

    spec, cfg = resolve_model_config(model_cfg, img_size)
    norm_name, norm_options = split_norm_config(norm_cfg)
    route = cfg["norm_route"]
    if spec.positions is None or route != "replace":
        _reject_position_keys(norm_options, spec.name, "" if spec.positions is None else " (norm_route=replace)")
    if route != "replace":
        _reject_layernorm_at(norm_options, spec.name, route)
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
        replace_norms(model, norm_cfg, targets=spec.replace_targets, positions=spec.positions)
    else:
        factory = norm_factory(norm_name, layout=spec.norm_layer_layout, **norm_options)
        # timm's get_norm_layer accepts only classes, functions and partials
        model = spec.build(cfg, **sizes, norm_layer=functools.partial(factory))
    assert_all_norms_replaced(model, spec.name)
    return model
