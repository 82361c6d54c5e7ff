"""Batch augmentation on the training device: random crop with zero padding, horizontal flip.

Done on whole uint8 batches with one gather (no per-sample Python loop), so it
costs next to nothing on CPU or GPU and needs no DataLoader workers. All
randomness comes from the generator passed in, so a run is repeatable and, with
the generator's state in the checkpoint, exactly resumable.
Semantics match torchvision's RandomCrop(size, padding=p) + RandomHorizontalFlip
+ ToTensor + Normalize: padding is black (pixel value 0) before normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from normbench.errors import DataError


class Augment:
    """``aug(x_uint8, generator)`` -> normalised float32 batch; ``aug.normalize(x)`` for evaluation."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, hflip: bool = False):
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels, std has {len(std)}")
        if crop_padding < 0:
            raise DataError(f"data.augment.crop_padding = {crop_padding} is not allowed: must be an integer >= 0")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.crop_padding, self.hflip = int(crop_padding), bool(hflip)
        self._stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x / 255 - mean) / std per channel, as float32; deterministic."""
        if x.dtype != torch.uint8:
            raise TypeError(f"expected a uint8 image batch, got {x.dtype}")
        if x.shape[1] != len(self.mean):
            raise ValueError(f"batch has {x.shape[1]} channels, mean/std have {len(self.mean)}")
        if self._stats is None or self._stats[0].device != x.device:  # once per device, not per batch
            self._stats = tuple(torch.tensor(v, device=x.device).view(1, -1, 1, 1) for v in (self.mean, self.std))
        mean, std = self._stats
        return (x.float() / 255.0 - mean) / std

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise TypeError(f"expected a uint8 (N, C, H, W) batch, got {x.dtype} {tuple(x.shape)}")
        if self.crop_padding or self.hflip:
            x = self._crop_flip(x, generator)
        return self.normalize(x)

    def _crop_flip(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.crop_padding
        # Draw on the generator's device, then move: works with a CPU or a device generator.
        # Fixed draw order (dy, dx, flip) keeps results identical for a given generator state.
        shift = torch.randint(0, 2 * p + 1, (2, n), generator=gen, device=gen.device).to(x.device) - p
        flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device) if self.hflip else None
        # Output pixel (i, j) of sample b reads source row i + dy[b] and column j' + dx[b],
        # where j' = W-1-j when flipped; reads outside the image are the zero padding.
        rows = torch.arange(h, device=x.device).unsqueeze(0) + shift[0].unsqueeze(1)  # (n, h)
        cols = torch.arange(w, device=x.device).expand(n, w)
        if flip is not None:
            cols = torch.where(flip.unsqueeze(1), (w - 1) - cols, cols)
        cols = cols + shift[1].unsqueeze(1)  # (n, w)
        inside = ((rows >= 0) & (rows < h)).unsqueeze(2) & ((cols >= 0) & (cols < w)).unsqueeze(1)  # (n, h, w)
        flat = (rows.clamp(0, h - 1) * w).unsqueeze(2) + cols.clamp(0, w - 1).unsqueeze(1)  # (n, h, w)
        out = x.reshape(n, c, h * w).gather(2, flat.reshape(n, 1, h * w).expand(n, c, h * w))
        return out.view(n, c, h, w) * inside.unsqueeze(1)
