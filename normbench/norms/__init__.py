"""normbench.norms: every normalization layer and the registry that builds one by name.

    from normbench.norms import build_norm, norm_factory
    build_norm("dyt", 384, alpha0=0.8)                    # (B, T, C) tokens
    build_norm("layernorm", 96, layout="channels_first")  # (B, C, H, W) maps
    timm.create_model(..., norm_layer=norm_factory("dyt", alpha0=0.5))
    build_norm("adaln_zero", 64, core="dyt")            # conditional: norm(x, c), norm.gate(c) (model=dit)
"""

from normbench.errors import NormConfigError

from .adaln import AdaLN, AdaLNZero
from .base import LAYOUTS, NormLayer, is_norm_layer, register_norm
from .batchnorm import BatchNorm, SyncBatchNorm, convert_sync_batchnorm
from .derf import Derf
from .dyt import SQUASHES, DyT
from .factory import build_norm_from_config, norm_factory, split_norm_config
from .groupnorm import GroupNorm
from .identity import Identity
from .instancenorm import InstanceNorm
from .layernorm import LayerNorm
from .options import option
from .registry import (build_conditional_norm, build_norm, conditional_norm_names, norm_class, norm_config,
                       norm_keys, norm_names, norms, resolve_options, supported_layouts)
from .rmsnorm import RMSNorm

__all__ = [
    "LAYOUTS", "SQUASHES",
    "NormConfigError", "NormLayer", "is_norm_layer", "register_norm", "option",
    "build_norm", "build_norm_from_config", "norm_class", "norm_factory", "norms", "norm_names",
    "norm_config", "norm_keys", "resolve_options",
    "split_norm_config", "convert_sync_batchnorm",
    "supported_layouts",
    "AdaLN", "AdaLNZero", "conditional_norm_names", "build_conditional_norm",
    "BatchNorm", "Derf", "DyT", "GroupNorm", "Identity", "InstanceNorm", "LayerNorm", "RMSNorm",
    "SyncBatchNorm",
]
