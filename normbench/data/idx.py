"""A small parser for the idx format of (Fashion-)MNIST, gzip-compressed or raw.

Parsing it ourselves takes a second for 60k images, needs no torchvision and no
network, and lets us report exactly which file is broken.
Format: 2 zero bytes, a dtype code, the number of dims, then each dim as a
big-endian uint32, then the data (big-endian) in C order.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from normbench.errors import DataError

# idx dtype code -> big-endian numpy dtype
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):  # decided by content, not by the file name
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:  # truncated or corrupt stream
        raise DataError(f"{path}: corrupt or truncated gzip file ({err})") from err


def read_idx(path: str | Path) -> torch.Tensor:
    """Read one idx file (``.gz`` or raw) into a tensor of its own dtype and shape."""
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise DataError(f"{path}: truncated idx file ({len(buf)} bytes, no header)")
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: not an idx file (magic number {buf[:4].hex()}; expected 0000 then a "
            f"dtype code in {sorted(hex(c) for c in _IDX_DTYPES)} and the number of dims)"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{path}: truncated idx header ({len(buf)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    got = len(buf) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataError(
            f"{path}: idx file {what}: shape {shape} needs {expected} data bytes, found {got}"
        )
    # bytearray -> writable array, so torch.from_numpy shares it without a warning or copy
    arr = np.frombuffer(bytearray(buf), dtype=dtype, offset=header).reshape(shape)
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=False))
