"""Image data sets held in memory as uint8 tensors, offline first.

``load_image_data(name)`` gives an :class:`ImageData` as the data set ships it, and
``load_image_data_from_config(cfg)`` the same with ``data.val_split`` training images held
out as its validation split (``normbench.data.val_split``); :class:`BatchStream` turns
its train split into an endless, exactly resumable stream of shuffled batches;
:class:`Augment` crops, flips and normalises batches on the device; and
``eval_batches`` walks a split in order. The default data set,
``fashion_mnist_mini``, ships inside the package so a run needs no network.
Byte-level text for task=lm lives in ``normbench.data.text`` (the shipped corpus:
tiny Shakespeare).
"""

from normbench.data.augment import Augment
from normbench.data.batch_stream import BatchStream, eval_batches
from normbench.data.image_data import ImageData
from normbench.data.registry import DATA_NAMES, load_image_data, load_image_data_from_config
from normbench.errors import DataError

__all__ = [
    "DATA_NAMES",
    "Augment",
    "BatchStream",
    "DataError",
    "ImageData",
    "eval_batches",
    "load_image_data",
    "load_image_data_from_config",
]
