"""A small VGG with BatchNorm for 28-32 px images, beside ResNet for claim C8 (DyT in
BatchNorm's place in classic ConvNets).

Why our own and not timm's VGG: timm's head (ConvMlp) is a 7x7 conv to 4096 features made
for 224 px inputs; on 28 px it would blow a 1x1 map up to 7x7 and hold nearly all the
weights. This is torchvision's VGG-BN body (conv3x3 without bias -> BatchNorm2d -> ReLU,
2x2 max-pools, torchvision's init) with the head of the CIFAR VGGs: global average pooling
and one linear layer.

The default `model.layers` [32, M, 64, M, 128, 128, M, 256, 256, M] is VGG11's first four
stages at half width: four max-pools take 28 px to 14 -> 7 -> 3 -> 1 (32 px: 16 -> 8 -> 4
-> 2); VGG11's fifth pool would leave a 28 px image nothing. About 1.1 M parameters and
23 M multiply-adds per 28 px image, a fifth of the default ResNet's, so a Fashion-MNIST run
is cheap on 2 CPU cores. The paper's VGG19 is torchvision's list, [64, 64, M, 128, 128, M,
256 x 4, M, 512 x 4, M, 512 x 4, M], which fits 32 px (five pools: 32 -> 1) but not 28 px.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from normbench.config.schema import ALLOWED, defaults_of
from normbench.errors import ModelConfigError

from .config import require_choice
from .replace import BATCHNORM_TARGETS
from .registry import register_model
from .spec import NORM_ROUTES, ModelSpec

POOL = "M"  # in model.layers: a 2x2 stride-2 max-pool (torchvision's and timm's spelling)


@dataclass
class VGGConfig:
    """`model=vgg`: a small VGG with BatchNorm for 28-32 px images."""

    name: str = "vgg"
    # conv3x3 widths, each conv -> norm -> ReLU, and "M" for a 2x2 max-pool; then global average
    # pooling and a linear head. Default: VGG11's first four stages at half width (28 px: 28 -> 1).
    # list[Any]: OmegaConf's errors for a Union item do not name the key; models/vgg.py checks the items.
    layers: list[Any] = field(
        default_factory=lambda: [32, "M", 64, "M", 128, 128, "M", 256, 256, "M"],
        metadata={ALLOWED: "a list of conv widths (positive ints) and 'M' (a 2x2 max-pool)"},
    )
    norm_route: str = "replace"            # replace: build with BatchNorm2d, then swap every one;
                                           # norm_layer: the configured norm is built in its place


DEFAULTS: dict[str, Any] = defaults_of(VGGConfig)  # the keys of model=vgg (without name), from the schema


def _is_width(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def check(cfg: Mapping[str, Any], img_size: int) -> None:
    require_choice(cfg, "norm_route", NORM_ROUTES)
    layers = cfg["layers"]
    if (
        not isinstance(layers, (list, tuple))
        or not all(_is_width(v) or v == POOL for v in layers)
        or not any(_is_width(v) for v in layers)
    ):
        raise ModelConfigError(
            f"model.layers = {layers!r} is not allowed; allowed: a list of conv widths (positive ints, "
            f"at least one) and {POOL!r} for a 2x2 max-pool, e.g. [32, 'M', 64, 'M']"
        )
    pools = sum(v == POOL for v in layers)
    if img_size // 2**pools < 1:  # a max-pool of a 1x1 map fails in the forward
        raise ModelConfigError(
            f"model.layers = {layers!r} has {pools} max-pools, too many for img_size = {img_size}; "
            f"allowed: at most {img_size.bit_length() - 1}"
        )


class VGG(nn.Module):
    """features (conv3x3 -> norm -> ReLU, with max-pools) -> global average pool -> linear head."""

    def __init__(
        self,
        layers: Sequence[int | str],
        *,
        num_classes: int,
        in_chans: int,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        chans = in_chans
        for v in layers:
            if v == POOL:
                blocks.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            # no conv bias: the norm right after it has one (or removes any per-channel shift)
            blocks += [nn.Conv2d(chans, v, kernel_size=3, padding=1, bias=False), norm_layer(v), nn.ReLU(inplace=True)]
            chans = v
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = chans
        self.head = nn.Linear(chans, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's VGG init; norms keep their own init (BatchNorm: weight 1, bias 0)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))


def build(cfg: Mapping[str, Any], *, num_classes: int, in_chans: int, img_size: int, norm_layer=None) -> nn.Module:
    return VGG(
        list(cfg["layers"]),
        num_classes=num_classes,
        in_chans=in_chans,
        **({"norm_layer": norm_layer} if norm_layer is not None else {}),  # default: BatchNorm2d
    )


SPEC = register_model(ModelSpec(
    name="vgg",
    config=VGGConfig,
    task="classify",
    build=build,
    check=check,
    # every norm place follows a conv: (B, C, H, W) maps on both routes
    layouts={"replace": ("channels_first",), "norm_layer": ("channels_first",)},
    replace_targets=BATCHNORM_TARGETS,
    norm_layer_layout="channels_first",
))
