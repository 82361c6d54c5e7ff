"""Fashion-MNIST-shaped idx files written by hand (the format encoded here independently of the
parser), for the data and bad-input tests; not a test module."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import torch


def idx_bytes(t: torch.Tensor) -> bytes:
    """Encode a uint8 or int32 tensor as idx, written here independently of the parser."""
    code, fmt = {torch.uint8: (0x08, "B"), torch.int32: (0x0C, "i")}[t.dtype]
    header = bytes([0, 0, code, t.dim()]) + struct.pack(f">{t.dim()}I", *t.shape)
    return header + struct.pack(f">{t.numel()}{fmt}", *t.flatten().tolist())


def write_fashion_files(folder: Path, n_train=20, n_test=10, size=6, gz=True, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": torch.randint(0, 256, (n_train, size, size), generator=g, dtype=torch.uint8),
        "train-labels-idx1-ubyte": torch.arange(n_train, dtype=torch.uint8) % 10,
        "t10k-images-idx3-ubyte": torch.randint(0, 256, (n_test, size, size), generator=g, dtype=torch.uint8),
        "t10k-labels-idx1-ubyte": torch.arange(n_test, dtype=torch.uint8) % 10,
    }
    for stem, t in arrays.items():
        data = idx_bytes(t)
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(data) if gz else data)
    return arrays
