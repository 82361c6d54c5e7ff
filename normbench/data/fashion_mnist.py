"""The full Fashion-MNIST (60k train / 10k test, 28x28 grey) from its idx files.

Offline first: the files are searched in the places a machine without internet
is likely to have them (a given folder, Debian's dataset-fashion-mnist package,
a torchvision download), and torchvision is asked to download only when
``download=True``. A miss names every place searched and how to get the data.
"""

from __future__ import annotations

from pathlib import Path

import torch

from normbench.data import paths
from normbench.data.idx import read_idx
from normbench.data.image_data import ImageData
from normbench.errors import DataError

MEAN = (0.2860,)
STD = (0.3530,)
CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
# split -> (images stem, labels stem); each may be stored as `stem` or `stem.gz`
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
INSTALL_HINT = (
    "Get it with one of: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, offline mirror); "
    "`data.download=true` on a machine with internet (torchvision downloads into data.root or "
    "~/.cache/normbench/data); or `data.root=<folder with the four idx files>`. "
    "Without any of these, `data=fashion_mnist_mini` (shipped in the package) works offline."
)


def search_dirs(root: str | Path | None) -> list[Path]:
    """The folders searched, in order; an explicit root comes before the standard places."""
    base = paths.resolve_root(root)
    dirs = [Path(root).expanduser()] if root is not None else []
    dirs.append(paths.DEBIAN_FASHION_MNIST)
    dirs.append(base / "FashionMNIST" / "raw")  # torchvision's layout
    return dirs


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_files(root: str | Path | None) -> dict[str, Path]:
    """The four idx files from the first folder that has all of them, or DataError."""
    searched = []
    for folder in search_dirs(root):
        found = {stem: _find_file(folder, stem) for pair in FILES.values() for stem in pair}
        if all(found.values()):
            return found  # type: ignore[return-value]
        missing = [s for s, p in found.items() if p is None]
        note = "folder does not exist" if not folder.is_dir() else f"missing {', '.join(missing)}"
        searched.append(f"{folder} ({note})")
    # one line, as every InputError: train.py prints it after "error: "
    raise DataError(
        "data.name = 'fashion_mnist': not found; searched for the idx files "
        f"({', '.join(s for pair in FILES.values() for s in pair)}, each raw or .gz) in: "
        + "; ".join(searched)
        + ". "
        + INSTALL_HINT
    )


def _download(root: str | Path | None) -> None:
    try:
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(root=str(paths.resolve_root(root)), train=train, download=True)
    except Exception as err:  # network errors come in many types; the hint matters more
        raise DataError(f"Fashion-MNIST download failed ({err}). {INSTALL_HINT}") from err


def load_split(files: dict[str, Path], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 N,1,28,28 images, int64 N labels) of one split, with consistency checks."""
    img_stem, lbl_stem = FILES[split]
    x, y = read_idx(files[img_stem]), read_idx(files[lbl_stem])
    if x.dim() != 3 or x.dtype != torch.uint8:
        raise DataError(f"{files[img_stem]}: expected uint8 images (N, H, W), got {x.dtype} {tuple(x.shape)}")
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise DataError(f"{files[lbl_stem]}: {tuple(y.shape)} labels for {x.shape[0]} images")
    y = y.long()
    if y.numel() and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise DataError(f"{files[lbl_stem]}: labels outside 0..{len(CLASSES) - 1}")
    return x.unsqueeze(1), y


def load_fashion_mnist(root: str | Path | None = None, download: bool = False) -> ImageData:
    try:
        files = find_files(root)
    except DataError:
        if not download:
            raise
        _download(root)
        files = find_files(root)
    train_x, train_y = load_split(files, "train")
    test_x, test_y = load_split(files, "test")
    return ImageData("fashion_mnist", train_x, train_y, test_x, test_y, 10, MEAN, STD, list(CLASSES))
