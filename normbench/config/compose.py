"""A run config composed with Hydra's compose API, outside a Hydra app (benchmarks, a study's
pre-flight checks, a recipe's preset), from a checkout's configs/."""

from __future__ import annotations

from pathlib import Path


def compose_run(overrides: list[str], configs: Path | None = None):
    """train.yaml with `overrides`, from `configs` (default: normbench.checkout.configs_dir():
    $NORMBENCH_CONFIGS, ./configs, or the one beside the package, so a non-editable install
    composes from a checkout)."""
    from hydra import compose, initialize_config_dir

    from normbench.checkout import configs_dir
    from normbench.config import register

    register()  # the schema nodes the configs extend (idempotent; importing the package did it too)
    with initialize_config_dir(config_dir=str(configs or configs_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))
