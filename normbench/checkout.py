"""Where the checkout's configs/ is, for the entry points that compose it outside train.py.

Why: the library can be installed without the checkout (a wheel has no configs/, results/,
train.py), so nothing may assume configs/ sits beside the package. train.py and sweep.py use
the configs/ beside themselves (sweep.py passes its own to the study); the library's entry
points (`python -m normbench.bench step`, `normbench.study.load_study` in a notebook) call
`configs_dir()`, which looks, in order, at
- an explicit path: the argument, else $NORMBENCH_CONFIGS;
- the working directory's configs/ (when it holds train.yaml): run from a checkout;
- the configs/ beside the package's source: an editable install, or the checkout on sys.path.
The checkout (results/, train.py) is the folder that holds that configs/.
"""

from __future__ import annotations

import os
from pathlib import Path

from normbench.errors import CheckoutError

ENV = "NORMBENCH_CONFIGS"
MARKER = "train.yaml"  # a folder is a normbench configs/ when it holds this
BESIDE_PACKAGE = Path(__file__).resolve().parents[1] / "configs"  # there in an editable install only


def configs_dir(explicit: str | Path | None = None) -> Path:
    """The configs/ folder to compose (absolute); CheckoutError naming every place looked in when none is."""
    given = explicit if explicit is not None else os.environ.get(ENV) or None
    if given is not None:
        path = Path(given).expanduser().resolve()
        if (path / MARKER).is_file():
            return path
        key = "configs" if explicit is not None else f"${ENV}"
        raise CheckoutError(f"{key} = {str(given)!r} holds no {MARKER}; allowed: the configs/ folder of a "
                            f"normbench checkout")
    looked = [Path.cwd() / "configs", BESIDE_PACKAGE]
    for path in looked:
        if (path / MARKER).is_file():
            return path.resolve()
    raise CheckoutError(f"no normbench configs/ found: ${ENV} is unset and neither {looked[0]} (the working "
                        f"directory's) nor {looked[1]} (beside the package) holds {MARKER}; run from a normbench "
                        f"checkout, or set {ENV}=<checkout>/configs")


def checkout_root(explicit: str | Path | None = None) -> Path:
    """The checkout that holds configs_dir(explicit): its results/ and train.py."""
    return configs_dir(explicit).parent
