"""Vision models (ViT, ConvNeXt, ResNet from timm, and an own VGG, all sized for 28-32 px
images), a small LLaMA (task=lm) and a small class-conditional DiT (task=generate, conditional
norms only) whose norm layers are all the configured normbench norm.

    from normbench.models import build_model
    model = build_model({"name": "vit"}, {"name": "dyt", "alpha0": 0.5},
                        num_classes=10, in_chans=1, img_size=28)
"""

from normbench.errors import ModelConfigError

from .build import (MODEL_NAMES, MODEL_TASKS, build_model, build_stock_model, check_model_fits_norm,
                    check_model_fits_task, resolve_model_config)
from .find_norms import norm_layers, stock_norm_layers
from .replace import BATCHNORM_TARGETS, LAYERNORM_TARGETS, replace_norms

__all__ = [
    "BATCHNORM_TARGETS",
    "LAYERNORM_TARGETS",
    "MODEL_NAMES",
    "MODEL_TASKS",
    "check_model_fits_norm",
    "check_model_fits_task",
    "ModelConfigError",
    "build_model",
    "build_stock_model",
    "norm_layers",
    "replace_norms",
    "resolve_model_config",
    "stock_norm_layers",
]
