"""Config group -> its schema: the fixed groups of schema.py and the `norm` group, which is the
union of the registered norms' Options (normbench/norms/registry.py), plugins included."""

from __future__ import annotations

from .schema import GROUPS as FIXED


def groups() -> dict[str, type | dict[str, type]]:
    """Every config group's schema, as of now (a plugin may have registered a norm since)."""
    from normbench.norms.registry import norm_config

    out: dict[str, type | dict[str, type]] = {}
    for name, schema in FIXED.items():
        out[name] = schema
        if name == "model":  # the order a config is written in: model, norm, normfree, ...
            out["norm"] = norm_config()
    return out
