"""Where data sets are looked for on disk, in one place so tests can redirect it.

Module attributes are read at call time (never copied into defaults), so
``monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp)`` moves every standard place.
"""

from __future__ import annotations

from pathlib import Path

# torchvision downloads here (download=True) and is searched when no root is given.
DEFAULT_ROOT = Path("~/.cache/normbench/data").expanduser()

# Debian's `apt-get install dataset-fashion-mnist` puts the four idx .gz files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def resolve_root(root: str | Path | None) -> Path:
    """The folder a loader should use: the given one, or the default cache."""
    return Path(root).expanduser() if root is not None else DEFAULT_ROOT
