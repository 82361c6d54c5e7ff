"""Byte-level text for language modelling, offline first: a corpus, a split, resumable windows.

Why bytes: a vocabulary of 256 needs no tokenizer to download or train, every file is
valid input, and the loss in bits is bits per byte, comparable across corpora.
A corpus is tokenised once into a cached uint8 file that later runs memory-map (a large
local corpus never has to fit in memory). The split is deterministic: the last
`test_fraction` of the bytes is the test split (0, the default: none), the `val_fraction` before
it validation, so no training window overlaps either; a study selects on val/* and reports test/*,
as image runs do. data.train_bytes then keeps only the first N bytes of the training split (how
much text a run may see), leaving validation and test as they are.
Training windows of context_length + 1 bytes start at offsets drawn from a generator
seeded by (seed, step), so the batch order is a pure function of them and a checkpoint
stores only {seed, step}, as BatchStream does for images; data-parallel, rank r takes the r-th
equal slice of each global batch's windows.

The default corpus ships inside the package: tiny Shakespeare (char-rnn's input.txt,
1,115,394 bytes, public domain), xz-compressed, its sha256 checked on every load.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import lzma
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from normbench.data import paths
from normbench.errors import DataError

log = logging.getLogger(__name__)

VOCAB_SIZE = 256
TEXT_DATA_NAMES = ("shakespeare", "text")  # shakespeare: shipped; text: the files of data.paths
# its own folder: assets/ holds the image data sets (and their 5 MB budget)
ASSET = Path(__file__).resolve().parent / "corpora" / "tinyshakespeare.txt.xz"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # of the uncompressed bytes
_CACHE_FORMAT = 1  # bump when the cache layout changes: old entries are then never read


@dataclass
class TextData:
    name: str
    train: np.ndarray  # uint8 bytes (a view of the cached memmap)
    val: np.ndarray
    sources: list[str]  # the files (or the shipped asset) it was made from
    test: np.ndarray | None = None  # the last data.test_fraction of the corpus; None without one

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE


def cache_dir() -> Path:
    # read at call time, so tests that move paths.DEFAULT_ROOT move the cache too
    return paths.DEFAULT_ROOT / "text"


def _sha256(data: np.ndarray | bytes) -> str:
    return hashlib.sha256(memoryview(data)).hexdigest()


def _write_atomic(path: Path, chunks: Iterator[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)  # a concurrent run or a kill never leaves a half-written cache


def _memmap(path: Path) -> np.ndarray:
    return np.memmap(path, dtype=np.uint8, mode="r")


def _shakespeare() -> np.ndarray:
    hint = "reinstall normbench (the shipped corpus is normbench/data/corpora/tinyshakespeare.txt.xz)"
    cached = cache_dir() / f"shakespeare-{SHAKESPEARE_SHA256[:16]}.u8"
    if cached.exists():
        tokens = _memmap(cached)
        if _sha256(tokens) == SHAKESPEARE_SHA256:
            return tokens
        log.warning("cached corpus %s fails its sha256 check; rebuilding it from the shipped asset", cached)
    try:
        raw = lzma.decompress(ASSET.read_bytes())
    except FileNotFoundError as err:
        raise DataError(f"data.name = 'shakespeare': shipped corpus missing: {ASSET}; {hint}") from err
    except (lzma.LZMAError, EOFError) as err:
        raise DataError(f"data.name = 'shakespeare': shipped corpus {ASSET} is corrupt ({err}); {hint}") from err
    if _sha256(raw) != SHAKESPEARE_SHA256:
        raise DataError(f"data.name = 'shakespeare': {ASSET} fails its sha256 check "
                        f"(expected {SHAKESPEARE_SHA256}); {hint}")
    try:
        _write_atomic(cached, iter([raw]))
    except OSError as err:  # a read-only home: train from memory instead
        log.warning("cannot cache the corpus at %s (%s); keeping it in memory", cached, err)
        return np.frombuffer(raw, dtype=np.uint8)
    return _memmap(cached)


def expand_paths(patterns: Sequence[str]) -> list[Path]:
    """The files named by data.paths (files or globs, ~ expanded), sorted, each once.
    Raises DataError naming the patterns that match no file."""
    if not patterns:
        raise DataError("data.paths = [] is empty: data.name = 'text' needs the files of a corpus; "
                        "allowed: a list of files or globs (data.paths='[corpus/*.txt]'), "
                        "or data=shakespeare (the shipped corpus)")
    found: dict[str, Path] = {}
    unmatched = []
    for pattern in patterns:
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(str(pattern)), recursive=True))
        files = [p for p in matches if p.is_file()]
        if not files:
            unmatched.append(str(pattern))
        for p in files:
            found.setdefault(str(p.resolve()), p)
    if unmatched:
        raise DataError(f"data.paths = {list(map(str, patterns))}: no file matches {', '.join(unmatched)}; "
                        "allowed: existing files or globs of files")
    return [found[k] for k in sorted(found)]


def _files(patterns: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    files = expand_paths(patterns)
    total = sum(f.stat().st_size for f in files)
    if total == 0:
        raise DataError(f"data.paths = {list(map(str, patterns))}: the corpus is empty "
                        f"(0 bytes in {', '.join(map(str, files))}); allowed: files that hold the corpus's text")
    # the cache key: which files, how large, when last changed (an edit makes a new entry)
    key = json.dumps([_CACHE_FORMAT] + [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files])
    cached = cache_dir() / f"files-{hashlib.sha256(key.encode()).hexdigest()[:16]}.u8"
    if not cached.exists():
        def chunks() -> Iterator[bytes]:  # files are concatenated as they are, in sorted order
            for f in files:
                with open(f, "rb") as fh:
                    yield from iter(lambda: fh.read(1 << 22), b"")

        _write_atomic(cached, chunks())
    return _memmap(cached), [str(f) for f in files]


def split(tokens: np.ndarray, val_fraction: float, context_length: int, test_fraction: float = 0.0
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(train, val, test): the last test_fraction of the bytes is the test split (None when 0), the
    val_fraction before it validation, the rest training. Each fraction counts the whole corpus, so
    test_fraction = 0 is the split made before the test split existed."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise DataError(f"data.val_fraction = {val_fraction!r} is not allowed: must be in (0, 1)")
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float))
            or not 0 <= test_fraction < 1 - val_fraction):
        raise DataError(f"data.test_fraction = {test_fraction!r} is not allowed: must be 0 (no test split) or in "
                        f"(0, 1 - data.val_fraction) = (0, {1 - val_fraction:g})")
    n_test = int(len(tokens) * test_fraction)
    n_val = int(len(tokens) * val_fraction)
    end_val = len(tokens) - n_test
    train, val = tokens[: end_val - n_val], tokens[end_val - n_val : end_val]
    test = tokens[end_val:] if test_fraction > 0 else None
    sizes = {"train": len(train), "val": len(val), **({"test": len(test)} if test is not None else {})}
    if min(sizes.values()) < context_length + 1:
        raise DataError(
            f"the corpus ({len(tokens)} bytes) is too small for data.context_length = {context_length} with "
            f"data.val_fraction = {val_fraction}, data.test_fraction = {test_fraction}: each split needs at least "
            f"context_length + 1 = {context_length + 1} bytes ({', '.join(f'{k} {v}' for k, v in sizes.items())})"
        )
    return train, val, test


def cut_train(train: np.ndarray, train_bytes: int | None, context_length: int) -> np.ndarray:
    """The first train_bytes bytes of the training split (None: all of it). Raises DataError
    unless context_length + 1 <= train_bytes <= the split's length."""
    if train_bytes is None:
        return train
    low = context_length + 1
    if isinstance(train_bytes, bool) or not isinstance(train_bytes, int) or not low <= train_bytes <= len(train):
        raise DataError(f"data.train_bytes = {train_bytes!r} is not allowed: must be null (the whole training split) "
                        f"or an int from context_length + 1 = {low} to the training split's {len(train)} bytes")
    return train[:train_bytes]


def load_text_data(name: str, paths: Sequence[str] = (), val_fraction: float = 0.1,
                   context_length: int = 128, train_bytes: int | None = None, test_fraction: float = 0.0) -> TextData:
    if name not in TEXT_DATA_NAMES:
        raise DataError(f"data.name = {name!r} is not a text data set; allowed with task=lm: "
                        f"{', '.join(TEXT_DATA_NAMES)}")
    if not isinstance(context_length, int) or context_length < 1:
        raise DataError(f"data.context_length = {context_length!r} is not allowed: must be an int >= 1")
    if name == "shakespeare":
        if paths:
            raise DataError(f"data.paths = {list(paths)} does not apply to data.name = 'shakespeare' (the shipped "
                            "corpus); allowed: data.paths=[] or data=text for a corpus of your own")
        tokens, sources = _shakespeare(), [str(ASSET)]
    else:
        tokens, sources = _files(paths)
    train, val, test = split(tokens, val_fraction, context_length, test_fraction)
    return TextData(name, cut_train(train, train_bytes, context_length), val, sources, test)


def load_text_data_from_config(cfg: Mapping[str, Any]) -> TextData:
    """From the `data` config group: name, paths, val_fraction, test_fraction, context_length, train_bytes.
    data.val_split (the held-out images of image data) must stay null: text's validation split
    is the last val_fraction of the corpus."""
    if cfg.get("val_split") is not None and cfg["name"] in TEXT_DATA_NAMES:  # an image set: its own error below
        raise DataError(f"data.val_split = {cfg['val_split']!r} does not apply to text data (data.name = "
                        f"{cfg['name']!r}; its validation split is the last data.val_fraction); allowed: null")
    return load_text_data(cfg["name"], [str(p) for p in cfg.get("paths") or []], float(cfg["val_fraction"]),
                          cfg["context_length"], cfg.get("train_bytes"), cfg.get("test_fraction") or 0.0)


def _windows(tokens: np.ndarray, starts: np.ndarray, context_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.from_numpy(tokens[starts[:, None] + np.arange(context_length + 1)].astype(np.int64))
    return w[:, :-1], w[:, 1:]  # input and next-byte target


def window_starts(n: int, context_length: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The start offsets of batch `step`: uniform over every full window, a pure function of (seed, step)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, step]))
    return rng.integers(0, n - context_length, size=batch_size)


class WindowStream:
    """Infinite iterator of (x, y) batches of random contiguous windows; state {seed, step}.
    With world_size > 1 each batch is rank `rank`'s slice of the global batch of batch_size."""

    def __init__(self, tokens: np.ndarray, context_length: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise DataError(f"data.batch_size = {batch_size} is not allowed: must be >= 1")
        if batch_size % world_size or not 0 <= rank < world_size:
            raise DataError(f"data.batch_size = {batch_size} cannot be shared by {world_size} processes "
                            f"(rank {rank}); allowed: a multiple of the world size")
        self.tokens, self.context_length, self.batch_size = tokens, int(context_length), int(batch_size)
        self.seed, self.step = int(seed), 0
        local = self.batch_size // world_size
        self._shard = slice(rank * local, (rank + 1) * local)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = window_starts(len(self.tokens), self.context_length, self.batch_size, self.seed, self.step)
        starts = starts[self._shard]
        self.step += 1
        return _windows(self.tokens, starts, self.context_length)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "step": self.step}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.seed, self.step = int(state["seed"]), int(state["step"])


def first_windows(tokens: np.ndarray, context_length: int, count: int | None = None) -> np.ndarray:
    """Start offsets of the non-overlapping windows from the beginning (all of them, or the first count)."""
    n = (len(tokens) - 1) // context_length
    return np.arange(n if count is None else min(n, count)) * context_length


def eval_windows(tokens: np.ndarray, context_length: int, batch_size: int, count: int | None = None
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The non-overlapping windows of the split in order: every one, or `count` evenly spaced
    over the whole split (the same ones at every evaluation); the last batch may be smaller."""
    if batch_size < 1:
        raise DataError(f"data.eval_batch_size = {batch_size} is not allowed: must be >= 1")
    if count is not None and count < 1:
        raise DataError(f"data.eval_windows = {count} is not allowed: must be null (every window) or >= 1")
    starts = first_windows(tokens, context_length)
    if count is not None and count < len(starts):
        starts = starts[np.linspace(0, len(starts) - 1, count).round().astype(np.int64)]
    for i in range(0, len(starts), batch_size):
        yield _windows(tokens, starts[i : i + batch_size], context_length)
