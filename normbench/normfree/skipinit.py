"""SkipInit: x + a * f(x), a learnable scalar a per residual branch, initialised to 0.

Source: De and Smith, "Batch Normalization Biases Residual Blocks Towards the Identity
Function in Deep Networks", NeurIPS 2020 (arXiv 2002.10444). With a = 0 every block starts
as the identity, which is what BatchNorm does implicitly for deep ResNets. The paper drops
the norms (norm=identity); here the gain also composes with any norm, which then stays.

Where the scalar goes: timm's layer scales, which multiply the branch output just before the
residual sum (ViT's ls1/ls2 modules, ConvNeXt's per-channel `gamma`, which becomes one
element); for ResNet after the branch's last norm (bn2 of a basic block, bn3 of a
bottleneck), which is also just before the sum.
"""

from __future__ import annotations

import torch
from torch import nn

from .fixup import RESNET_STAGES
from .scalars import Gain


def skipinit_vit(model: nn.Module, init: float) -> nn.Module:
    for block in model.blocks:
        block.ls1, block.ls2 = Gain(init), Gain(init)
    return model


def skipinit_convnext(model: nn.Module, init: float) -> nn.Module:
    for stage in model.stages:
        for block in stage.blocks:
            block.gamma = nn.Parameter(torch.full((1,), float(init)))  # timm broadcasts it over channels
    return model


def skipinit_resnet(model: nn.Module, init: float) -> nn.Module:
    for name in RESNET_STAGES:
        for block in getattr(model, name):
            last = "bn3" if hasattr(block, "conv3") else "bn2"
            setattr(block, last, nn.Sequential(getattr(block, last), Gain(init)))
    return model
