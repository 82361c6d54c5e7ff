"""fashion_mnist_mini: a small real Fashion-MNIST subset shipped inside the package.

It is the project's default data set so that `python train.py` works on any
machine with no network and no download: 1000 train images per class from the
train split and a balanced held-out subset of the t10k split, made by
scripts/make_fashion_mnist_mini.py (see assets/fashion_mnist_mini.json for the
source files' sha256, seed and counts).
"""

from __future__ import annotations

from pathlib import Path

from normbench.data import fashion_mnist, mini_asset
from normbench.data.image_data import ImageData

ASSET_DIR = Path(__file__).resolve().parent / "assets"
STEM = "fashion_mnist_mini"


def load_fashion_mnist_mini() -> ImageData:
    arrays, _ = mini_asset.read(ASSET_DIR, STEM)
    return ImageData(
        "fashion_mnist_mini",
        arrays["train_x"],
        arrays["train_y"].long(),  # stored as uint8 to save space
        arrays["test_x"],
        arrays["test_y"].long(),
        num_classes=10,
        mean=fashion_mnist.MEAN,  # the full set's constants: same distribution, comparable runs
        std=fashion_mnist.STD,
        classes=list(fashion_mnist.CLASSES),
    )
