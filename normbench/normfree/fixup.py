"""Fixup: training residual networks without normalization by initialisation alone.

Source: Zhang, Dauphin and Ma, "Fixup Initialization: Residual Learning Without
Normalization", ICLR 2019 (arXiv 1901.09321): section 3 gives the rules for ResNets, and its
machine-translation experiment applies the same rules to the Transformer. With L residual
branches of m layers each:
  1. the classifier and the last layer of every residual branch start at zero;
  2. every other layer of a branch starts at its standard (He) init times L^(-1/(2m-2));
  3. a scalar bias (init 0) before each conv, linear and activation of a branch, a scalar
     multiplier (init 1) at the end of each branch, and a scalar bias before the classifier.
The network must have no normalization (norm=identity); the rules assume none.

ResNet blocks get their own forward (FixupBasicBlock, FixupBottleneck), written as in the
paper, around timm's convs; so the projection shortcut sees x + bias1a as there.
ViT blocks keep timm's forward: the scalars go into the empty norm and layer-scale slots
(norm1 before qkv, attn.norm before proj, ls1 at the branch end, norm2 before fc1, a shift
before the activation, mlp.norm before fc2, ls2). Rule 2 scales all of qkv and fc1 (m = 2:
qkv -> proj and fc1 -> fc2 are each a branch of two layers).
"""

from __future__ import annotations

import torch
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from .scalars import ScaleShift, Shift


def branch_scale(num_branches: int, layers_per_branch: int) -> float:
    """Rule 2's factor: L^(-1/(2m-2))."""
    return num_branches ** (-1.0 / (2 * layers_per_branch - 2))


def _he_init_scaled(conv: nn.Conv2d, factor: float) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    with torch.no_grad():
        conv.weight.mul_(factor)


def _zero(layer: nn.Module) -> None:
    nn.init.zeros_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)


class FixupBasicBlock(nn.Module):
    """timm's BasicBlock (conv3x3 -> act -> conv3x3) in the Fixup form."""

    layers_per_branch = 2

    def __init__(self, block: BasicBlock, num_branches: int) -> None:
        super().__init__()
        self.conv1, self.act1, self.conv2, self.act2 = block.conv1, block.act1, block.conv2, block.act2
        self.downsample, self.drop_path = block.downsample, block.drop_path or nn.Identity()
        self.bias1a, self.bias1b, self.bias2a = Shift(), Shift(), Shift()
        self.scale_bias2b = ScaleShift()
        _he_init_scaled(self.conv1, branch_scale(num_branches, self.layers_per_branch))
        _zero(self.conv2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = self.bias1a(x)
        out = self.act1(self.bias1b(self.conv1(shifted)))
        out = self.scale_bias2b(self.conv2(self.bias2a(out)))
        shortcut = self.downsample(shifted) if self.downsample is not None else x
        return self.act2(self.drop_path(out) + shortcut)


class FixupBottleneck(nn.Module):
    """timm's Bottleneck (conv1x1 -> act -> conv3x3 -> act -> conv1x1) in the Fixup form."""

    layers_per_branch = 3

    def __init__(self, block: Bottleneck, num_branches: int) -> None:
        super().__init__()
        self.conv1, self.act1, self.conv2, self.act2 = block.conv1, block.act1, block.conv2, block.act2
        self.conv3, self.act3 = block.conv3, block.act3
        self.downsample, self.drop_path = block.downsample, block.drop_path or nn.Identity()
        self.bias1a, self.bias1b, self.bias2a, self.bias2b, self.bias3a = (Shift() for _ in range(5))
        self.scale_bias3b = ScaleShift()
        factor = branch_scale(num_branches, self.layers_per_branch)
        _he_init_scaled(self.conv1, factor)
        _he_init_scaled(self.conv2, factor)
        _zero(self.conv3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = self.bias1a(x)
        out = self.act1(self.bias1b(self.conv1(shifted)))
        out = self.act2(self.bias2b(self.conv2(self.bias2a(out))))
        out = self.scale_bias3b(self.conv3(self.bias3a(out)))
        shortcut = self.downsample(shifted) if self.downsample is not None else x
        return self.act3(self.drop_path(out) + shortcut)


FIXUP_BLOCKS = {BasicBlock: FixupBasicBlock, Bottleneck: FixupBottleneck}
RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def fixup_resnet(model: nn.Module) -> nn.Module:
    """timm ResNet (norm=identity) -> Fixup ResNet, in place."""
    stages = [getattr(model, name) for name in RESNET_STAGES]
    num_branches = sum(len(stage) for stage in stages)
    for stage in stages:
        for i, block in enumerate(stage):
            stage[i] = FIXUP_BLOCKS[type(block)](block, num_branches)
    model.bn1 = Shift()  # the stem: conv -> (+ bias) -> act, the slot of its norm
    _zero(model.fc)
    model.fc = nn.Sequential(Shift(), model.fc)
    return model


def fixup_vit(model: nn.Module) -> nn.Module:
    """timm VisionTransformer (norm=identity) -> its Fixup form, in place."""
    factor = branch_scale(2 * len(model.blocks), 2)  # two branches (attention, MLP) a block
    for block in model.blocks:
        attn, mlp = block.attn, block.mlp
        with torch.no_grad():
            attn.qkv.weight.mul_(factor)
            mlp.fc1.weight.mul_(factor)
        _zero(attn.proj)
        _zero(mlp.fc2)
        block.norm1, attn.norm, block.ls1 = Shift(), Shift(), ScaleShift()
        block.norm2, mlp.norm, block.ls2 = Shift(), Shift(), ScaleShift()
        mlp.act = nn.Sequential(Shift(), mlp.act)
    model.fc_norm = Shift()  # the bias before the classifier; fc_norm follows pooling
    _zero(model.head)
    return model
