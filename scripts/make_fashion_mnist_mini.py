"""Make the shipped Fashion-MNIST subset, normbench/data/assets/fashion_mnist_mini.*.

Why: the default run must work with no network, so a small real subset lives
in the package. Train: `--train-per-class` images per class from the train
split. Test: a balanced subset of the t10k split with as many images per class
as fit the size budget (between --min-test-per-class and --max-test-per-class).
Per class, a fixed-seed permutation of that class's indices is taken from the
front, so smaller subsets are nested in larger ones; images keep the source
files' order. The output is byte-identical for the same sources and options.

    python scripts/make_fashion_mnist_mini.py [--root DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from normbench.data import fashion_mnist, mini_asset  # noqa: E402
from normbench.data.fashion_mnist_mini import ASSET_DIR, STEM  # noqa: E402


def class_orders(labels: np.ndarray, num_classes: int, seed: int) -> list[np.ndarray]:
    """Per class, its indices in a fixed-seed random order."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]


def take(orders: list[np.ndarray], per_class: int) -> np.ndarray:
    if any(len(o) < per_class for o in orders):
        raise SystemExit(f"a class has fewer than {per_class} images")
    return np.sort(np.concatenate([o[:per_class] for o in orders]))


def build(x_tr, y_tr, x_te, y_te, tr_idx, te_idx):
    return mini_asset.pack({
        "train_x": x_tr[tr_idx], "train_y": y_tr[tr_idx].astype(np.uint8),
        "test_x": x_te[te_idx], "test_y": y_te[te_idx].astype(np.uint8),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None, help="folder with the four idx files (default: the standard places)")
    ap.add_argument("--out", default=str(ASSET_DIR))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-per-class", type=int, default=1000)
    ap.add_argument("--min-test-per-class", type=int, default=200)
    ap.add_argument("--max-test-per-class", type=int, default=500)
    ap.add_argument("--max-bytes", type=int, default=5_000_000, help="budget for blob + manifest (decimal MB)")
    args = ap.parse_args()

    files = fashion_mnist.find_files(args.root)
    x_tr, y_tr = (t.numpy() for t in fashion_mnist.load_split(files, "train"))
    x_te, y_te = (t.numpy() for t in fashion_mnist.load_split(files, "test"))
    k = len(fashion_mnist.CLASSES)
    # Different seeds per split keep the two selections independent.
    tr_idx = take(class_orders(y_tr, k, args.seed), args.train_per_class)
    te_orders = class_orders(y_te, k, args.seed + 1)

    manifest_allowance = 4096  # the JSON manifest is about 2 KB
    budget = args.max_bytes - manifest_allowance
    lo, hi, best = args.min_test_per_class, args.max_test_per_class, None
    while lo <= hi:  # binary search: the largest balanced test subset that fits
        mid = (lo + hi) // 2
        blob, layout = build(x_tr, y_tr, x_te, y_te, tr_idx, take(te_orders, mid))
        fits = len(blob) <= budget
        print(f"test {mid}/class -> {len(blob) / 1e6:.3f} MB {'fits' if fits else 'too big'}", flush=True)
        if fits:
            lo, best = mid + 1, (mid, blob, layout)
        else:
            hi = mid - 1
    if best is None:
        raise SystemExit(f"even {args.min_test_per_class} test images per class exceed {args.max_bytes} bytes")
    test_per_class, blob, layout = best

    meta = {
        "dataset": "Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), MIT license",
        "made_by": "scripts/make_fashion_mnist_mini.py",
        "source_files": {p.name: {"sha256": mini_asset.sha256_file(p), "bytes": p.stat().st_size}
                         for p in files.values()},
        "source_dir": str(next(iter(files.values())).parent),
        "seed": args.seed,
        "selection": "per class, the first n of np.random.default_rng(seed) permutation of its indices "
                     "(train split: seed, t10k split: seed + 1); kept in source order",
        "train_per_class": args.train_per_class,
        "test_per_class": test_per_class,
        "test_per_class_limit": [args.min_test_per_class, args.max_test_per_class],
        "max_bytes": args.max_bytes,
        "compression": "xz (lzma preset 9 extreme) of the raw uint8 arrays concatenated in 'arrays' order",
    }
    paths = mini_asset.write(args.out, STEM, blob, layout, meta)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {', '.join(str(p) for p in paths)}: {total} bytes, "
          f"train {args.train_per_class}/class, test {test_per_class}/class")
    if total > args.max_bytes:
        raise SystemExit(f"asset is {total} bytes, over the budget of {args.max_bytes}")


if __name__ == "__main__":
    main()
