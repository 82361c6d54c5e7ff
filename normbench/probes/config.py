"""Value checks of the `probe` config group (types are the schema's): a bad value is one named
error before training, not a ZeroDivisionError at the first probe step."""

from __future__ import annotations

from typing import Any, Mapping

from normbench.errors import ConfigError


def check_probe_config(cfg: Mapping[str, Any], max_steps: int) -> None:
    for key in ("every", "batch_size", "scurve_tokens", "scurve_channels"):
        if cfg[key] < 1:
            raise ConfigError(f"probe.{key} = {cfg[key]!r} is not allowed: must be an integer >= 1")
    for step in cfg["scurve_steps"]:
        if step != -1 and not 0 <= step <= max_steps:
            raise ConfigError(f"probe.scurve_steps = {list(cfg['scurve_steps'])} is not allowed: each step must be -1 "
                              f"(the last) or in 0..trainer.max_steps = {max_steps} (0: at init)")
    for key, value in cfg["monitor"].items():
        if not value > 0:
            raise ConfigError(f"probe.monitor.{key} = {value!r} is not allowed: must be a number > 0")
