"""ImageData: a whole image classification data set held in memory as uint8 tensors.

The small data sets this project trains on fit in memory many times over, so
one tensor per split replaces a DataLoader with workers: start-up is instant,
batches are an index away, and the data order is exactly resumable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from normbench.errors import DataError


@dataclass(repr=False)
class ImageData:
    """Train and test splits as ``uint8`` (N, C, H, W) images and ``int64`` (N,) labels.

    ``mean``/``std`` are per-channel constants in [0, 1] pixel units, used by
    :class:`normbench.data.Augment` to normalise. ``val_x``/``val_y``: the validation split
    carved from the training set by ``data.val_split`` (normbench/data/val_split.py), disjoint
    from train_x; None when there is none (as loaded, or data.val_split = 0).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str] | None = None
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None

    def __post_init__(self) -> None:
        # Checked once here so every consumer can rely on the layout.
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        if (self.val_x is None) != (self.val_y is None):
            raise DataError(f"{self.name}: val_x and val_y come together")
        for split in ("train", "test") + (("val",) if self.val_x is not None else ()):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise DataError(f"{self.name}: {split}_x must be uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise DataError(f"{self.name}: {split}_y must be int64 ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(f"{self.name}: train and test image shapes differ")
        if self.val_x is not None and self.val_x.shape[1:] != self.train_x.shape[1:]:
            raise DataError(f"{self.name}: train and val image shapes differ")
        if self.train_x.shape[2] != self.train_x.shape[3]:
            raise DataError(f"{self.name}: images must be square, got {tuple(self.train_x.shape[2:])}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise DataError(f"{self.name}: mean/std need one value per channel ({self.in_chans})")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise DataError(f"{self.name}: {len(self.classes)} class names for {self.num_classes} classes")

    @property
    def in_chans(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def img_size(self) -> int:
        return int(self.train_x.shape[2])

    def __repr__(self) -> str:  # the default would print whole tensors
        return (
            f"ImageData(name={self.name!r}, train={tuple(self.train_x.shape)}, "
            + (f"val={tuple(self.val_x.shape)}, " if self.val_x is not None else "")
            + f"test={tuple(self.test_x.shape)}, num_classes={self.num_classes})"
        )
