"""normbench.convert: put a normbench norm in place of every norm layer of any PyTorch model.

    import normbench, timm
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    replaced = normbench.convert(model, "dyt", alpha0=0.5)      # [(name, old module, new norm), ...]

    normbench.convert(llama, "dyt", classes={LlamaRMSNorm: "channels_last"})  # another library's norm

Why a library call: the norms and their ablations are useful outside normbench's own models
(a timm model, a transformers LLM, a hand-written net). It is the same swap the model builders
make (normbench/models/replace.py: layouts, number of channels, what is carried over), over
every norm class of torch and timm (STOCK_TARGETS) plus the classes the caller names.

This module imports torch and timm only when called, so `import normbench` stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from normbench.errors import ModelConfigError, NormConfigError

if TYPE_CHECKING:
    from torch import nn

    from normbench.models.replace import Replaced


def convert(
    model: nn.Module,
    norm: str,
    *,
    classes: Mapping[type, str] | None = None,
    stock: bool = True,
    copy_affine: bool = True,
    **options: Any,
) -> list[Replaced]:
    """Replace, in place, the norm layers of `model` with build_norm(norm, **options).

    norm, options: a norm name and its options as in build_norm and the `norm` config group
        (alpha0, squash, learnable_alpha, s0, affine, bias, eps, ...), e.g. ("dyt", alpha0=0.5).
    classes: more classes to replace, each with the layout of its input: "channels_last"
        (features on the last dim: (B, T, C), (B, H, W, C)) or "channels_first" ((B, C, *spatial)).
        A class named here wins over the stock table (and its subclasses follow it). Its number of
        channels is read from normalized_shape, num_features, num_channels, a 1-D weight or
        hidden_size; its eps from eps or variance_epsilon.
    stock: also replace every norm class of torch and timm (LayerNorm, RMSNorm, BatchNorm1d/2d/3d,
        SyncBatchNorm, GroupNorm, InstanceNorm, timm's LayerNorm2d, RmsNorm, ...); False: only
        `classes`.
    copy_affine: copy each old layer's weight and bias into the new one where shapes agree (False
        for a class whose weight means something else, e.g. a norm computing x * (1 + weight)).

    Carried over from each old layer: eps, momentum and num_groups unless given, BatchNorm's
    running statistics, train/eval mode, device and dtype. timm's norm+activation layers
    (BatchNormAct2d, LayerNormAct, ...) become nn.Sequential(new norm, their drop, their act).
    Everything is checked, and every new norm built, before the model changes: a bad name,
    option, class or place raises and leaves the model as it was.

    Returns one Replaced(name, old, new) per replaced place, in module order.
    """
    from torch import nn

    from normbench.models.replace import STOCK_TARGETS, replace_places, target_layout
    from normbench.norms import LAYOUTS, is_norm_layer, norm_class, norm_names
    from normbench.norms.registry import resolve_options

    cls = norm_class(norm)
    if getattr(cls, "conditional", False):  # adaln: forward(x, c) fits no stock norm place
        plain = [n for n in norm_names() if not getattr(norm_class(n), "conditional", False)]
        raise NormConfigError(f"norm.name = {norm!r} takes a conditioning vector, which no norm place of "
                              f"a given model passes; allowed: {', '.join(plain)}")
    resolve_options(options)
    for key, value in (("stock", stock), ("copy_affine", copy_affine)):
        if not isinstance(value, bool):
            raise ModelConfigError(f"{key} = {value!r} is not allowed: must be a bool (True or False)")
    if not isinstance(model, nn.Module):
        raise ModelConfigError(f"model = {type(model).__name__} is not allowed: must be a torch nn.Module")
    targets: dict[type, str] = dict(STOCK_TARGETS) if stock else {}
    for klass, layout in dict(classes or {}).items():
        name = getattr(klass, "__name__", repr(klass))
        if not (isinstance(klass, type) and issubclass(klass, nn.Module)):
            raise ModelConfigError(f"classes key {klass!r} is not allowed: must be an nn.Module subclass")
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise ModelConfigError(f"classes[{name}] = {layout!r} is unknown; allowed: {', '.join(LAYOUTS)}")
        targets[klass] = layout
    if target_layout(model, targets) is not None and not is_norm_layer(model):
        raise ModelConfigError(f"model = {type(model).__name__} is itself a norm layer: convert replaces the "
                               f"norm layers inside a model; allowed: a model holding it (nn.Sequential(norm)), "
                               f"or normbench.norms.build_norm for a single layer")
    return replace_places(model, norm, options, targets, copy_affine=copy_affine)
