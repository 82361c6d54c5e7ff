"""What every norm layer shares: the NormLayer marker and the two layouts.

Probes, normalization-free transforms and DDP's SyncBatchNorm conversion find
norm layers by type after they were injected into a timm model, so every module
that build_norm returns carries this marker plus its registry name and layout.
"""

from torch import nn

from normbench.errors import NormConfigError

CHANNELS_LAST = "channels_last"  # features on the last dim: (B, T, C) or (B, H, W, C)
CHANNELS_FIRST = "channels_first"  # features on dim 1: (B, C, *spatial)
LAYOUTS = (CHANNELS_LAST, CHANNELS_FIRST)


def check_layout(layout: object) -> str:
    """Return layout if it is one of LAYOUTS, else raise NormConfigError."""
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise NormConfigError(f"layout = {layout!r} is unknown; allowed: {', '.join(LAYOUTS)}")
    return layout


class NormLayer:
    """Marker mixin: ``class LayerNorm(NormLayer, nn.LayerNorm)``.

    Subclasses set ``norm_name`` (the registry name) and, when they cannot work
    in both layouts, ``layouts``; instances get ``layout``.
    """

    norm_name: str = ""
    layouts: tuple[str, ...] = LAYOUTS
    layout: str = CHANNELS_LAST
    # True for norms whose forward takes a conditioning vector, forward(x, c) (adaln, adaln_zero):
    # they fit only models that pass one (model=dit), and those models need one of them
    conditional: bool = False

    @classmethod
    def check_layout(cls, layout: object) -> str:
        """Validate layout for this norm; call before building parameters."""
        check_layout(layout)
        if layout not in cls.layouts:
            why = " (feature maps with spatial dims)" if cls.layouts == (CHANNELS_FIRST,) else ""
            raise NormConfigError(
                f"norm={cls.norm_name} needs layout {' or '.join(cls.layouts)}{why}; "
                f"this place has {layout}"
            )
        return layout

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> nn.Module:
        """Build from validated options (options.resolve_options); each norm picks its keys."""
        raise NotImplementedError


def is_norm_layer(module: object) -> bool:
    """True for every module build_norm returns (identity included)."""
    return isinstance(module, NormLayer)
