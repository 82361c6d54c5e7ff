"""Components from outside the package: modules named in NORMBENCH_PLUGINS are imported
before any registry is read, so a norm, model or task they register (@register_norm, ...)
is as usable as a built-in one, the Hydra schema included.

    NORMBENCH_PLUGINS=mylab.norms.foo python train.py norm=foo hydra.searchpath=[file://mylab/configs]

(the plugin's configs/norm/foo.yaml reaches Hydra through hydra.searchpath).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from normbench.errors import ConfigError

ENV = "NORMBENCH_PLUGINS"
_loaded: set[str] = set()
_scanned: set[str] = set()


def load_components(package: str, skip: set[str]) -> None:
    """Import every module of `package` (once; its components register themselves as they are
    imported) but those in `skip`, then the plugins: what a registry reads before it answers."""
    if package not in _scanned:
        _scanned.add(package)  # first: a module imported below may ask again
        for mod in pkgutil.iter_modules(importlib.import_module(package).__path__):
            if mod.name not in skip and not mod.name.startswith("_"):
                importlib.import_module(f"{package}.{mod.name}")
    load_plugins()


def load_plugins() -> tuple[str, ...]:
    """Import each module of NORMBENCH_PLUGINS (comma-separated) once; the names imported."""
    names = tuple(n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip())
    for name in names:
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(f"{ENV} names {name!r}, which cannot be imported: {e}; allowed: importable "
                              f"module names, comma-separated (is its folder on PYTHONPATH?)") from e
        _loaded.add(name)
    return names
