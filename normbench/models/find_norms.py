"""Finding norm layers in a built model, by name and type.

Why: probes (alpha, input std, saturation per layer), normalization-free transforms and
tests all need the same answer to "where are the norms?": every normbench NormLayer,
and any stock torch/timm norm that was not replaced (which build_model forbids).
"""

from __future__ import annotations

from torch import nn
from timm.layers import LayerNorm, LayerNorm2d

# The stock norm classes of vit/convnext/resnet (timm) and vgg; none may survive build_model.
STOCK_NORM_TYPES: tuple[type[nn.Module], ...] = (nn.LayerNorm, LayerNorm, LayerNorm2d, nn.BatchNorm2d)


def norm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every normbench NormLayer, in module order."""
    from normbench.norms import is_norm_layer

    return [(name, m) for name, m in model.named_modules() if is_norm_layer(m)]


def stock_norm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every stock torch/timm norm still in `model`."""
    from normbench.norms import is_norm_layer

    # normbench's LayerNorm subclasses nn.LayerNorm: it is not a stock norm
    return [
        (name, m) for name, m in model.named_modules() if isinstance(m, STOCK_NORM_TYPES) and not is_norm_layer(m)
    ]


def assert_all_norms_replaced(model: nn.Module, model_name: str) -> None:
    """Raise if a stock norm survived: a silently mixed model would poison every study."""
    left = stock_norm_layers(model)
    if left:
        names = ", ".join(f"{n} ({type(m).__name__})" for n, m in left[:5])
        raise RuntimeError(f"model={model_name}: {len(left)} stock norm layer(s) were not replaced: {names}")
