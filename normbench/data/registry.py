"""The one entry point that turns a data set name (and the `data` config) into ImageData.

Loaders are imported lazily so that choosing the shipped default never pays for
torchvision, and so that an unknown name fails with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from normbench.data import val_split
from normbench.data.image_data import ImageData
from normbench.errors import DataError

DATA_NAMES = ("fashion_mnist", "fashion_mnist_mini", "cifar10", "cifar100", "synthetic")


def load_image_data(
    name: str, root: str | Path | None = None, download: bool = False, **synthetic_options: Any
) -> ImageData:
    """Load data set `name` into memory. Keyword options apply to `synthetic` only."""
    if name not in DATA_NAMES:
        raise DataError(f"data.name = {name!r} is unknown; allowed: {', '.join(DATA_NAMES)}")
    if synthetic_options and name != "synthetic":
        raise DataError(f"options {sorted(synthetic_options)} apply only to data.name = 'synthetic', not {name!r}")
    if name == "fashion_mnist":
        from normbench.data.fashion_mnist import load_fashion_mnist

        return load_fashion_mnist(root, download)
    if name == "fashion_mnist_mini":  # shipped in the package: root and download do not apply
        from normbench.data.fashion_mnist_mini import load_fashion_mnist_mini

        return load_fashion_mnist_mini()
    if name in ("cifar10", "cifar100"):
        from normbench.data.cifar import load_cifar

        return load_cifar(name, root, download)
    from normbench.data.synthetic import make_synthetic

    return make_synthetic(**synthetic_options)


def load_image_data_from_config(cfg: Mapping[str, Any]) -> ImageData:
    """Load from the `data` config group (a dict or DictConfig), its validation split carved.

    Reads `name`, `root`, `download`, `val_split` (absent or null: the data set's default;
    normbench/data/val_split.py) and, for synthetic only, the `synthetic:` sub-mapping of
    options; batch sizes and `augment` belong to the train loop.
    """
    if "name" not in cfg:
        raise DataError(f"the data config has no `name`; allowed: {', '.join(DATA_NAMES)}")
    name = cfg["name"]
    options = {}
    if name == "synthetic" and cfg.get("synthetic") is not None:
        sub = cfg["synthetic"]
        options = {str(k): sub[k] for k in sub}  # DictConfig -> plain dict of primitives
    data = load_image_data(name, root=cfg.get("root"), download=bool(cfg.get("download", False)), **options)
    return val_split.carve(data, cfg.get("val_split"))
