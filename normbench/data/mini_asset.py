"""The on-disk format of the small data sets shipped inside the package.

One xz-compressed blob of raw uint8 arrays plus a JSON manifest beside it that
says how to cut the blob (name, shape, offset of each array) and where the data
came from (source files and their sha256, seed, counts). xz on raw bytes was
measured smallest for Fashion-MNIST (about 375 B per 28x28 image, against about
440 B with np.savez_compressed/gzip), which matters under a 5 MB budget, and
decompresses in well under a second. The writer lives here too so that the
format has exactly one home.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from pathlib import Path

import numpy as np
import torch

from normbench.errors import DataError

FORMAT = "normbench-mini/1"
_XZ_PRESET = 9 | lzma.PRESET_EXTREME


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pack(arrays: dict[str, np.ndarray]) -> tuple[bytes, list[dict]]:
    """Concatenate uint8 arrays into one xz blob; returns (blob, layout)."""
    layout, parts, offset = [], [], 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype != np.uint8:
            raise TypeError(f"{name}: only uint8 arrays are stored, got {arr.dtype}")
        layout.append({"name": name, "shape": list(arr.shape), "offset": offset, "nbytes": arr.nbytes})
        parts.append(arr.tobytes())
        offset += arr.nbytes
    payload = b"".join(parts)
    for entry in layout:  # lets the reader verify the decompressed bytes
        entry["sha256"] = hashlib.sha256(payload[entry["offset"] : entry["offset"] + entry["nbytes"]]).hexdigest()
    return lzma.compress(payload, preset=_XZ_PRESET), layout


def write(folder: str | Path, stem: str, blob: bytes, layout: list[dict], meta: dict) -> list[Path]:
    """Write ``<stem>.bin.xz`` and ``<stem>.json``; returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blob_path, meta_path = folder / f"{stem}.bin.xz", folder / f"{stem}.json"
    blob_path.write_bytes(blob)
    manifest = {"format": FORMAT, "blob": blob_path.name, "blob_sha256": hashlib.sha256(blob).hexdigest(),
                "arrays": layout, **meta}
    meta_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return [blob_path, meta_path]


def read(folder: str | Path, stem: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read an asset back as uint8 tensors by name, plus its manifest."""
    meta_path = Path(folder) / f"{stem}.json"
    hint = "regenerate it with `python scripts/make_fashion_mnist_mini.py` or reinstall normbench"
    try:
        manifest = json.loads(meta_path.read_text())
        blob_path = meta_path.parent / manifest["blob"]
        payload = lzma.decompress(blob_path.read_bytes())
    except FileNotFoundError as err:
        raise DataError(f"shipped data asset missing: {err.filename}; {hint}") from err
    except (json.JSONDecodeError, KeyError, lzma.LZMAError, EOFError) as err:
        raise DataError(f"shipped data asset {meta_path.parent / stem}.* is corrupt ({err}); {hint}") from err
    if manifest.get("format") != FORMAT:
        raise DataError(f"{meta_path}: format {manifest.get('format')!r}, expected {FORMAT!r}; {hint}")
    buf = bytearray(payload)  # writable, so tensors share it without a copy
    out = {}
    for entry in manifest["arrays"]:
        lo, n = entry["offset"], entry["nbytes"]
        if lo + n > len(buf) or hashlib.sha256(buf[lo : lo + n]).hexdigest() != entry["sha256"]:
            raise DataError(f"{blob_path}: array {entry['name']!r} fails its sha256 check; {hint}")
        out[entry["name"]] = torch.frombuffer(buf, dtype=torch.uint8, count=n, offset=lo).view(entry["shape"])
    return out, manifest
