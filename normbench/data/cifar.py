"""CIFAR-10 and CIFAR-100 through torchvision, converted once to uint8 NCHW tensors.

torchvision already knows the file layout, checksums and download URLs; we only
read its decoded arrays and hold them like every other data set here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from normbench.data import paths
from normbench.data.image_data import ImageData
from normbench.errors import DataError

# name -> (torchvision class name, num_classes, mean, std)
SPECS = {
    "cifar10": ("CIFAR10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ("CIFAR100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def load_cifar(name: str, root: str | Path | None = None, download: bool = False) -> ImageData:
    import torchvision.datasets  # imported here: costly, and only the CIFAR path needs it

    cls_name, num_classes, mean, std = SPECS[name]
    folder = paths.resolve_root(root)
    splits = {}
    for train in (True, False):
        try:
            ds = getattr(torchvision.datasets, cls_name)(root=str(folder), train=train, download=download)
        except Exception as err:  # "Dataset not found or corrupted", or a network error
            raise DataError(
                f"data.name = {name!r} could not be loaded from {folder} (data.download = {download}): "
                f"{' '.join(str(err).split())}; "
                f"Get it with `data.download=true` on a machine with internet (torchvision downloads "
                f"into data.root, default ~/.cache/normbench/data), or set `data.root=<folder>` to a folder "
                f"that already holds torchvision's {'cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python'}."
            ) from err
        x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # NHWC -> NCHW
        y = torch.as_tensor(ds.targets, dtype=torch.int64)
        splits[train] = (x, y, list(ds.classes))
    (train_x, train_y, classes), (test_x, test_y, _) = splits[True], splits[False]
    return ImageData(name, train_x, train_y, test_x, test_y, num_classes, mean, std, classes)
