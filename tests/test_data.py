"""Tests of normbench.data: idx parsing, data set loading and search, the shipped
mini asset, exact-resume batch streams, and vectorised augmentation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from normbench.data import (
    DATA_NAMES,
    Augment,
    BatchStream,
    DataError,
    ImageData,
    eval_batches,
    load_image_data,
    load_image_data_from_config,
)
from normbench.data import fashion_mnist, fashion_mnist_mini, paths
from normbench.data.idx import read_idx

from idx_files import idx_bytes, write_fashion_files

REPO = Path(__file__).resolve().parents[1]
IDX_STEMS = [s for pair in fashion_mnist.FILES.values() for s in pair]


# ---------------------------------------------------------------- idx files
@pytest.fixture
def no_standard_places(tmp_path, monkeypatch):
    """Point the Debian folder and the default cache at empty temp folders."""
    debian, cache = tmp_path / "debian_empty", tmp_path / "cache_empty"
    debian.mkdir()
    cache.mkdir()
    monkeypatch.setattr(paths, "DEBIAN_FASHION_MNIST", debian)
    monkeypatch.setattr(paths, "DEFAULT_ROOT", cache)
    return debian, cache


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    t = torch.randint(0, 256, (3, 4, 5), dtype=torch.uint8)
    data = idx_bytes(t)
    f = tmp_path / ("a.gz" if gz else "a")
    f.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(f)
    assert out.dtype == torch.uint8 and torch.equal(out, t)


def test_read_idx_big_endian_int32(tmp_path):
    t = torch.tensor([[1, -2, 70000], [3, 4, -5]], dtype=torch.int32)
    (tmp_path / "i").write_bytes(idx_bytes(t))
    assert torch.equal(read_idx(tmp_path / "i"), t)


def test_read_idx_bad_magic(tmp_path):
    f = tmp_path / "notidx"
    f.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"\x00\x00")
    with pytest.raises(DataError, match="not an idx file") as err:
        read_idx(f)
    assert str(f) in str(err.value)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_truncated(tmp_path, gz):
    data = idx_bytes(torch.zeros(10, 8, 8, dtype=torch.uint8))
    f = tmp_path / "trunc"
    if gz:
        f.write_bytes(gzip.compress(data)[:30])  # cut the gzip stream
    else:
        f.write_bytes(data[:-7])  # cut the payload
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(f)
    assert str(f) in str(err.value)


# ---------------------------------------------------------------- fashion_mnist (full)
@pytest.mark.parametrize("layout", ["flat_gz", "flat_raw", "torchvision"])
def test_fashion_mnist_from_root(tmp_path, no_standard_places, layout):
    root = tmp_path / "root"
    folder = root / "FashionMNIST" / "raw" if layout == "torchvision" else root
    arrays = write_fashion_files(folder, gz=layout != "flat_raw")
    data = load_image_data("fashion_mnist", root=root)
    assert data.train_x.shape == (20, 1, 6, 6) and data.test_x.shape == (10, 1, 6, 6)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert torch.equal(data.train_x[:, 0], arrays["train-images-idx3-ubyte"])
    assert torch.equal(data.test_y, arrays["t10k-labels-idx1-ubyte"].long())
    assert (data.in_chans, data.img_size, data.num_classes) == (1, 6, 10)
    assert data.mean == (0.2860,) and data.std == (0.3530,) and data.classes[0] == "T-shirt/top"


def test_fashion_mnist_missing_lists_places(tmp_path, no_standard_places):
    debian, cache = no_standard_places
    root = tmp_path / "nothing_here"
    with pytest.raises(DataError) as err:
        load_image_data("fashion_mnist", root=root)
    msg = str(err.value)
    for place in (root, debian, root / "FashionMNIST" / "raw"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "data.download=true" in msg and "data.root=" in msg
    with pytest.raises(DataError) as err:  # no root: the default cache is searched
        load_image_data("fashion_mnist")
    assert str(cache / "FashionMNIST" / "raw") in str(err.value)


def test_fashion_mnist_corrupt_file_is_named(tmp_path, no_standard_places):
    write_fashion_files(tmp_path)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:20])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_image_data("fashion_mnist", root=tmp_path)


@pytest.mark.skipif(not paths.DEBIAN_FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_full_from_debian():
    data = load_image_data("fashion_mnist")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.train_y).tolist() == [6000] * 10


# ---------------------------------------------------------------- shipped mini asset
def test_fashion_mnist_mini_asset():
    data = load_image_data("fashion_mnist_mini")
    assert data.name == "fashion_mnist_mini"
    assert data.train_x.shape == (10000, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.train_y.dtype == torch.int64 and data.test_y.dtype == torch.int64
    assert torch.bincount(data.train_y, minlength=10).tolist() == [1000] * 10
    test_counts = torch.bincount(data.test_y, minlength=10).tolist()
    assert len(set(test_counts)) == 1 and test_counts[0] >= 200 and len(test_counts) == 10
    assert data.test_x.shape == (len(data.test_y), 1, 28, 28)
    assert data.train_y.min() == 0 and data.train_y.max() == 9
    assert len(data.classes) == 10 and data.mean == fashion_mnist.MEAN
    assert data.train_x.float().mean().item() / 255 == pytest.approx(0.286, abs=0.01)  # real images
    size = sum(f.stat().st_size for f in fashion_mnist_mini.ASSET_DIR.iterdir() if f.is_file())
    assert size <= 5_000_000


# ---------------------------------------------------------------- BatchStream / eval_batches
def _toy(n=50):
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1), torch.arange(n)


def test_batch_stream_deterministic_and_covers_each_sample_once():
    x, y = _toy(50)
    a, b = BatchStream(x, y, batch_size=8, seed=3), BatchStream(x, y, batch_size=8, seed=3)
    first = [next(a)[1] for _ in range(6)]  # 6 batches = one epoch of 48 (2 dropped)
    assert all(torch.equal(p, next(b)[1]) for p in first)
    seen = torch.cat(first)
    assert len(seen) == 48 and len(set(seen.tolist())) == 48  # no repeats within the epoch
    assert a.epoch == 0 and a.batches_per_epoch == 6
    xb, yb = next(a)
    assert a.epoch == 1 and torch.equal(xb.view(-1).long(), yb)  # x and y stay paired
    other = BatchStream(x, y, batch_size=8, seed=4)
    assert not torch.equal(torch.cat([next(other)[1] for _ in range(6)]), seen)


def test_batch_stream_epochs_differ():
    x, y = _toy(40)
    s = BatchStream(x, y, batch_size=40, seed=0)
    e0, e1 = next(s)[1], next(s)[1]
    assert sorted(e0.tolist()) == sorted(e1.tolist()) and not torch.equal(e0, e1)


def test_batch_stream_exact_resume_mid_epoch():
    x, y = _toy(50)
    full = BatchStream(x, y, batch_size=8, seed=7)
    for _ in range(9):  # mid-way through epoch 1
        next(full)
    state = full.state_dict()
    assert set(state) == {"seed", "epoch", "index"} and state["epoch"] == 1
    expected = [next(full)[1] for _ in range(10)]  # crosses into epoch 2
    resumed = BatchStream(x, y, batch_size=8, seed=0)  # seed comes from the state
    next(resumed)  # a stale cached permutation must not survive the load
    resumed.load_state_dict(dict(state))
    assert all(torch.equal(e, next(resumed)[1]) for e in expected)
    assert resumed.state_dict() == full.state_dict()


def test_batch_stream_rejects_batch_larger_than_data():
    x, y = _toy(5)
    with pytest.raises(DataError, match="batch_size"):
        BatchStream(x, y, batch_size=6)


def test_eval_batches_in_order_last_partial():
    x, y = _toy(23)
    batches = list(eval_batches(x, y, batch_size=10))
    assert [len(b[1]) for b in batches] == [10, 10, 3]
    assert torch.equal(torch.cat([b[1] for b in batches]), y)


# ---------------------------------------------------------------- Augment
def test_augment_off_is_exact_normalisation():
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)
    aug = Augment(mean, std, crop_padding=0, hflip=False)
    ref = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(aug.normalize(x), ref)


def test_augment_is_a_padded_crop_and_flip():
    """Each output equals one of the torchvision-style crops of the zero-padded input, maybe flipped."""
    p, n = 2, 32
    x = torch.randint(1, 256, (n, 2, 5, 5), dtype=torch.uint8)
    out = Augment((0.0, 0.0), (1.0, 1.0), crop_padding=p, hflip=True)(x, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (p, p, p, p)).float() / 255
    flips = 0
    for b in range(n):
        crops = [padded[b, :, i : i + 5, j : j + 5] for i in range(2 * p + 1) for j in range(2 * p + 1)]
        plain = any(torch.equal(out[b], c) for c in crops)
        flipped = any(torch.equal(out[b], c.flip(-1)) for c in crops)
        assert plain or flipped
        flips += flipped and not plain
    assert 0 < flips < n  # both branches happen


def test_augment_crop_only_shifts_content():
    p, n, s = 2, 64, 8
    x = torch.zeros(n, 1, s, s, dtype=torch.uint8)
    x[:, 0, 3, 4] = 255  # one bright pixel
    out = Augment((0.0,), (1.0,), crop_padding=p, hflip=False)(x, torch.Generator().manual_seed(0))
    sums = out.sum(dim=(1, 2, 3))
    assert torch.all((sums == 0) | (sums == 1))  # moved (or shifted out), never duplicated or dimmed
    assert (sums == 1).all()  # with p=2 the pixel at (3, 4) of 8x8 always stays inside
    pos = out.view(n, -1).argmax(1)
    dy, dx = pos // s - 3, pos % s - 4
    assert dy.abs().max() <= p and dx.abs().max() <= p and len(set(zip(dy.tolist(), dx.tolist()))) > 5


def test_augment_same_seed_same_output():
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    aug = Augment((0.5,), (0.25,), crop_padding=2, hflip=True)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---------------------------------------------------------------- names, synthetic, configs
def test_unknown_name():
    with pytest.raises(DataError, match=r"data.name = 'mnist' is unknown; allowed: .*fashion_mnist_mini"):
        load_image_data("mnist")
    assert set(DATA_NAMES) == {"fashion_mnist", "fashion_mnist_mini", "cifar10", "cifar100", "synthetic"}


def test_synthetic_deterministic_and_learnable():
    a = load_image_data("synthetic", seed=1)
    b = load_image_data("synthetic", seed=1)
    c = load_image_data("synthetic", seed=2)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)
    assert a.train_x.shape == (512, 1, 16, 16) and a.test_x.shape == (256, 1, 16, 16)
    assert a.train_x.dtype == torch.uint8 and a.num_classes == 10
    # nearest class mean from the train split classifies the test split: the task is learnable
    means = torch.stack([a.train_x[a.train_y == k].float().mean(0) for k in range(10)]).flatten(1)
    pred = torch.cdist(a.test_x.float().flatten(1), means).argmin(1)
    assert (pred == a.test_y).float().mean() > 0.9
    d = load_image_data("synthetic", num_classes=3, img_size=8, in_chans=3, train_size=30, test_size=9)
    assert d.train_x.shape == (30, 3, 8, 8) and len(d.mean) == 3 and d.train_y.max() < 3
    assert isinstance(d, ImageData) and d.classes is None


def test_bad_options():
    with pytest.raises(DataError, match="unknown synthetic"):
        load_image_data("synthetic", colour=True)
    with pytest.raises(DataError, match="img_size"):
        load_image_data("synthetic", img_size=0)
    with pytest.raises(DataError, match="apply only to data.name = 'synthetic'"):
        load_image_data("fashion_mnist_mini", img_size=8)


def test_cifar_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="data.download=true") as err:
        load_image_data("cifar10", root=tmp_path)
    assert str(tmp_path) in str(err.value) and "data.root" in str(err.value)


def test_data_configs_load():
    from conftest import compose_cfg  # each preset on its schema node (normbench/config), as Hydra composes it

    files = sorted((REPO / "configs" / "data").glob("*.yaml"))
    from normbench.data.text import TEXT_DATA_NAMES

    assert {f.stem for f in files} == set(DATA_NAMES) | set(TEXT_DATA_NAMES)  # image and text (task=lm) sets
    data = {f.stem: compose_cfg([f"data={f.stem}"]).data for f in files}
    for name, cfg in data.items():
        assert cfg.name == name
        assert {"name", "root", "download", "batch_size", "eval_batch_size", "augment"} <= set(cfg)
        assert {"crop_padding", "hflip"} == set(cfg.augment)
    syn = load_image_data_from_config(data["synthetic"])
    assert syn.name == "synthetic" and syn.train_x.shape == (448, 1, 16, 16)
    assert syn.val_x.shape == (64, 1, 16, 16)  # data.val_split of synthetic.yaml, held out of the 512
    small = load_image_data_from_config({"name": "synthetic", "val_split": 0,
                                         "synthetic": {"train_size": 20, "test_size": 5}})
    assert len(small.train_y) == 20 and small.val_x is None
    mini = load_image_data_from_config(data["fashion_mnist_mini"])
    assert mini.name == "fashion_mnist_mini"
