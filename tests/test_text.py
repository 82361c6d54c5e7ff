"""Byte-level text data (normbench/data/text.py): the shipped corpus and its checksum, corpora
from files, named errors for missing or empty ones, the split, and windows that resume exactly."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from normbench.data import paths, text
from normbench.errors import DataError


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "cache")


def test_shipped_corpus_is_tiny_shakespeare_checked_and_cached(tmp_path):
    data = text.load_text_data("shakespeare")
    whole = np.concatenate([data.train, data.val])
    assert len(whole) == 1_115_394 and len(data.val) == 111_539  # int(10 %), the end of the corpus
    assert hashlib.sha256(whole.tobytes()).hexdigest() == text.SHAKESPEARE_SHA256
    assert bytes(data.train[:9]) == b"First Cit"
    assert isinstance(data.train, np.memmap)  # later runs map the cache, not a copy
    assert len(list((tmp_path / "cache" / "text").glob("shakespeare-*.u8"))) == 1


def test_a_corrupt_cache_is_rebuilt_and_a_bad_asset_is_a_named_error(tmp_path, monkeypatch):
    text.load_text_data("shakespeare")
    cached = next((tmp_path / "cache" / "text").glob("shakespeare-*.u8"))
    cached.write_bytes(b"x" * 100)
    assert len(text.load_text_data("shakespeare").train) == 1_115_394 - 111_539
    cached.unlink()
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", "0" * 64)
    with pytest.raises(DataError, match="fails its sha256 check"):
        text.load_text_data("shakespeare")


def test_corpus_from_files_and_globs(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello " * 50)
    (tmp_path / "b.txt").write_bytes(b"world " * 50)
    data = text.load_text_data("text", [str(tmp_path / "*.txt")], val_fraction=0.2, context_length=8)
    assert bytes(np.concatenate([data.train, data.val])) == b"hello " * 50 + b"world " * 50
    assert data.sources == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]


def test_missing_and_empty_corpora_are_named_errors_listing_the_paths(tmp_path):
    missing = str(tmp_path / "nowhere" / "*.txt")
    with pytest.raises(DataError, match="no file matches") as info:
        text.load_text_data("text", [missing])
    assert missing in str(info.value) and "data.paths" in str(info.value)
    with pytest.raises(DataError, match=r"data.paths = \[\] is empty"):
        text.load_text_data("text", [])
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="the corpus is empty") as info:
        text.load_text_data("text", [str(tmp_path / "empty.txt")])
    assert str(tmp_path / "empty.txt") in str(info.value)
    (tmp_path / "short.txt").write_bytes(b"abc")
    with pytest.raises(DataError, match="too small for data.context_length = 8"):
        text.load_text_data("text", [str(tmp_path / "short.txt")], context_length=8)
    with pytest.raises(DataError, match="allowed with task=lm: shakespeare, text"):
        text.load_text_data("fashion_mnist_mini")


def test_train_bytes_keeps_the_first_bytes_of_the_training_split_and_all_of_validation(tmp_path):
    (tmp_path / "c.txt").write_bytes(bytes(range(256)) * 4)  # 1024 bytes: train 922, val 102
    whole = text.load_text_data("text", [str(tmp_path / "c.txt")], context_length=8)
    cut = text.load_text_data("text", [str(tmp_path / "c.txt")], context_length=8, train_bytes=100)
    assert bytes(cut.train) == bytes(whole.train[:100]) and bytes(cut.val) == bytes(whole.val)
    assert len(text.load_text_data("text", [str(tmp_path / "c.txt")], context_length=8, train_bytes=922).train) == 922
    assert len(text.load_text_data("shakespeare", train_bytes=4096).train) == 4096
    stream = text.WindowStream(cut.train, context_length=8, batch_size=64, seed=0)  # windows only from the cut
    assert all(bytes(x[i].numpy().astype(np.uint8)) in bytes(cut.train) for x, _ in [next(stream)] for i in range(64))


@pytest.mark.parametrize("train_bytes", [0, -5, 8, 923, True])
def test_train_bytes_out_of_range_is_a_named_error(tmp_path, train_bytes):
    (tmp_path / "c.txt").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError) as info:
        text.load_text_data("text", [str(tmp_path / "c.txt")], context_length=8, train_bytes=train_bytes)
    msg = str(info.value)
    assert msg.startswith(f"data.train_bytes = {train_bytes!r} is not allowed: must be null")
    assert "context_length + 1 = 9" in msg and "922 bytes" in msg  # what is allowed


def test_windows_are_a_pure_function_of_seed_and_step():
    tokens = np.arange(1000, dtype=np.int64).astype(np.uint8)
    a = text.WindowStream(tokens, context_length=16, batch_size=4, seed=3)
    batches = [next(a) for _ in range(5)]
    for x, y in batches:
        assert x.shape == y.shape == (4, 16) and x.dtype == torch.long
        assert torch.equal(y[:, :-1], x[:, 1:])  # y is x shifted by one byte
    b = text.WindowStream(tokens, context_length=16, batch_size=4, seed=3)
    b.load_state_dict(a.state_dict() | {"step": 2})
    for x, y in batches[2:]:
        bx, by = next(b)
        assert torch.equal(bx, x) and torch.equal(by, y)
    other = next(text.WindowStream(tokens, context_length=16, batch_size=4, seed=4))
    assert not torch.equal(other[0], batches[0][0])


def test_eval_windows_cover_the_split_once_in_order():
    tokens = np.arange(100, dtype=np.uint8)
    xs = [x for x, _ in text.eval_windows(tokens, context_length=10, batch_size=4)]
    assert [len(x) for x in xs] == [4, 4, 1]  # (100 - 1) // 10 = 9 windows
    assert torch.equal(torch.cat(xs)[:, 0], torch.arange(9) * 10)


def test_eval_windows_can_be_a_fixed_evenly_spaced_subset():
    tokens = np.arange(100, dtype=np.uint8)
    xs = torch.cat([x for x, _ in text.eval_windows(tokens, context_length=10, batch_size=4, count=3)])
    assert xs[:, 0].tolist() == [0, 40, 80]  # windows 0, 4 and 8 of 9


def test_a_test_split_is_the_last_test_fraction_and_validation_the_val_fraction_before_it(tmp_path):
    """split's formula: with n bytes, test = the last int(n t) bytes, val = the int(n v) before
    them, train the rest; t = 0 is the split made before the key (val the last int(n v) bytes)."""
    (tmp_path / "c.txt").write_bytes(bytes(range(256)) * 4)  # 1024 bytes
    corpus = bytes(range(256)) * 4
    old = text.load_text_data("text", [str(tmp_path / "c.txt")], val_fraction=0.1, context_length=8)
    assert old.test is None and bytes(old.val) == corpus[1024 - 102:] and bytes(old.train) == corpus[:1024 - 102]
    new = text.load_text_data("text", [str(tmp_path / "c.txt")], val_fraction=0.1, context_length=8, test_fraction=0.05)
    assert bytes(new.test) == corpus[1024 - 51:]                 # int(1024 * 0.05) = 51
    assert bytes(new.val) == corpus[1024 - 51 - 102:1024 - 51]   # int(1024 * 0.1) = 102, just before it
    assert bytes(new.train) == corpus[:1024 - 51 - 102]
    for bad in (-0.1, 0.9, 1.0, True):
        with pytest.raises(DataError, match=rf"^data.test_fraction = {bad!r} is not allowed: must be 0 .* \(0, 0.9\)"):
            text.load_text_data("text", [str(tmp_path / "c.txt")], val_fraction=0.1, context_length=8, test_fraction=bad)
    with pytest.raises(DataError, match=r"too small .* data.test_fraction = 0.001: .* test 1\)"):
        text.load_text_data("text", [str(tmp_path / "c.txt")], val_fraction=0.1, context_length=8, test_fraction=0.001)
