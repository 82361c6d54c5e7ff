"""A tiny synthetic image task that is learnable, deterministic and needs no files.

Each class is a fixed random low-frequency template; a sample is its class
template at a random contrast plus pixel noise, stored as uint8 like real data.
Tests and smoke runs use it to check that a model learns (loss falls, accuracy
rises well above chance) in seconds, on any machine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from normbench.config.schema import SyntheticConfig, defaults_of
from normbench.data.image_data import ImageData
from normbench.errors import DataError

DEFAULTS = defaults_of(SyntheticConfig, exclude=())  # the keys of data.synthetic, from the schema


def _check(opts: dict) -> None:
    unknown = sorted(set(opts) - set(DEFAULTS))
    if unknown:
        raise DataError(f"unknown synthetic data option(s) {unknown}; allowed: {sorted(DEFAULTS)}")
    minimum = {"num_classes": 2, "img_size": 4, "in_chans": 1, "train_size": 1, "test_size": 1, "seed": 0}
    for key, low in minimum.items():
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DataError(f"data.synthetic.{key} = {value!r}: must be an integer >= {low}")


def _samples(templates: torch.Tensor, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, templates.shape[0], (n,), generator=gen)
    contrast = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    noise = 25.0 * torch.randn((n, *templates.shape[1:]), generator=gen)
    x = 128.0 + contrast * (templates[y] - 128.0) + noise
    return x.round().clamp(0, 255).to(torch.uint8), y


def make_synthetic(**options) -> ImageData:
    opts = {**DEFAULTS, **options}
    _check(opts)
    c, s, k = opts["in_chans"], opts["img_size"], opts["num_classes"]
    gen = torch.Generator().manual_seed(opts["seed"])
    # Low-frequency templates (coarse grid, upsampled) survive small crops and flips.
    coarse = torch.rand(k, c, max(2, s // 4), max(2, s // 4), generator=gen) * 255.0
    templates = F.interpolate(coarse, size=(s, s), mode="bilinear", align_corners=False)
    train_x, train_y = _samples(templates, opts["train_size"], gen)
    test_x, test_y = _samples(templates, opts["test_size"], gen)
    pixels = train_x.double().div(255.0).transpose(0, 1).reshape(c, -1)  # per-channel statistics
    mean = tuple(pixels.mean(1).tolist())
    std = tuple(pixels.std(1).clamp_min(1e-6).tolist())
    return ImageData("synthetic", train_x, train_y, test_x, test_y, k, mean, std, classes=None)
