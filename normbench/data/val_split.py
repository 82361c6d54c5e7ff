"""The validation split of image data: `data.val_split` training images held out for selection.

Why: lr and alpha0 must be chosen on numbers that are not the ones reported. A run therefore
evaluates on two splits: `val`, carved here from the training set (selection: best), and
`test`, the data set's own held-out set (reported). The carved images are never trained on.

The split is a pure function of the training labels, the count and its own seed (SEED, never
trainer.seed): every run of a study, every seed, every rank of a data-parallel run and every
resumed run hold out the same images. It is stratified: each class gives its share of the
count (largest remainders to the classes with the largest fractional shares, ties to the lower
class index). Within a class the images are taken from the front of a fixed permutation of
that class, so a smaller split is nested in a larger one; both parts keep the source's order.

    data.val_split = null  the data set's default (DEFAULTS; configs/data/<name>.yaml states it)
    data.val_split = 0     no validation split: train on every training image; each evaluation
                           logs test/* only and best is selected on the test set (its name,
                           test/acc1, says so)
    data.val_split = n     n images, 1 <= n < the training set's size

The per-channel normalisation constants stay the data set's (the standard full-training-set
values), so a split changes which images are trained on, nothing else.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import torch

from normbench.data.image_data import ImageData
from normbench.errors import DataError

SEED = 20250314  # the split's own seed: independent of trainer.seed, fixed for every run
# data.val_split = null takes the data set's default (each configs/data/<name>.yaml states it too)
DEFAULTS = {"fashion_mnist_mini": 1000, "fashion_mnist": 5000, "cifar10": 5000, "cifar100": 5000, "synthetic": 64}


def resolve(name: str, val_split: int | None) -> int:
    """The count of data set `name`: val_split itself, or the data set's default for None."""
    return DEFAULTS[name] if val_split is None else val_split


def _allowed(name: str, n_train: int) -> str:
    default = f"null (the data set's default, {DEFAULTS[name]}), " if DEFAULTS[name] < n_train else ""
    return (f"allowed: {default}0 (no validation split: best is selected on the test set) or an int from 1 to "
            f"{n_train - 1} (fewer than the {n_train} training images of data.name = {name!r})")


def check(name: str, val_split: object, n_train: int) -> int:
    """The count `val_split` stands for, or a DataError naming data.val_split and what is allowed."""
    value = resolve(name, val_split) if val_split is None else val_split
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < n_train:
        shown = f"null (the data set's default, {value})" if val_split is None else repr(val_split)
        raise DataError(f"data.val_split = {shown} is not allowed; {_allowed(name, n_train)}")
    return int(value)


def class_counts(labels: torch.Tensor, num_classes: int, n: int) -> list[int]:
    """How many of the n held-out images each class gives: its share of n, rounded by largest remainder."""
    sizes = np.bincount(labels.numpy(), minlength=num_classes).astype(np.int64)
    exact = n * sizes / sizes.sum()
    counts = np.floor(exact).astype(np.int64)
    # the remaining images to the largest fractional parts; a stable sort keeps ties in class order
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    return counts.tolist()


def val_indices(labels: torch.Tensor, num_classes: int, n: int, seed: int = SEED) -> torch.Tensor:
    """The sorted indices of the n held-out images: per class, the front of a fixed permutation."""
    y = labels.numpy()
    picked = []
    for c, k in enumerate(class_counts(labels, num_classes, n)):
        members = np.flatnonzero(y == c)
        order = np.random.default_rng(np.random.SeedSequence([seed, c])).permutation(len(members))
        picked.append(members[order[:k]])
    return torch.from_numpy(np.sort(np.concatenate(picked))).long()


def carve(data: ImageData, val_split: int | None) -> ImageData:
    """`data` with its validation split carved out of the training set (val_x/val_y), the rest
    as its training set; val_split 0 returns it unchanged (no val_x)."""
    n = check(data.name, val_split, len(data.train_y))
    if n == 0:
        return data
    held = val_indices(data.train_y, data.num_classes, n)
    keep = torch.ones(len(data.train_y), dtype=torch.bool)
    keep[held] = False
    return dataclasses.replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep],
                               val_x=data.train_x[held], val_y=data.train_y[held])
