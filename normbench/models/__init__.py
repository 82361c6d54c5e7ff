"""Vision models (ViT, ConvNeXt, ResNet from timm, and an own VGG, all sized for 28-32 px
images), a small LLaMA (task=lm) and a small class-conditional DiT (task=generate, conditional
norms only) whose norm layers are all the configured normbench norm. Each model file registers
itself (register_model(ModelSpec(...)), spec.py); a plugin model is one file (NORMBENCH_PLUGINS).

    from normbench.models import build_model
    model = build_model({"name": "vit"}, {"name": "dyt", "alpha0": 0.5},
                        num_classes=10, in_chans=1, img_size=28)
"""

from normbench.errors import ModelConfigError

from .build import build_model, build_stock_model, check_model_fits_norm, check_model_fits_task, resolve_model_config
from .find_norms import norm_layers, stock_norm_layers
from .registry import model_names, model_tasks, models, register_model
from .replace import BATCHNORM_TARGETS, LAYERNORM_TARGETS, replace_norms
from .spec import ModelSpec


def __getattr__(name: str):  # MODEL_NAMES, MODEL_TASKS: read from the registry when asked (plugins included)
    from . import build

    return getattr(build, name)


__all__ = [
    "BATCHNORM_TARGETS",
    "LAYERNORM_TARGETS",
    "MODEL_NAMES",
    "MODEL_TASKS",
    "check_model_fits_norm",
    "check_model_fits_task",
    "ModelConfigError",
    "ModelSpec",
    "build_model",
    "build_stock_model",
    "model_names",
    "model_tasks",
    "models",
    "norm_layers",
    "register_model",
    "replace_norms",
    "resolve_model_config",
    "stock_norm_layers",
]
