"""Shared test helpers: compose the real configs/ with tiny, fast overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import normbench.config  # noqa: F401  registers the schema nodes that configs/*.yaml extend

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# A run small enough for a test: synthetic 16 px data, a 1-block ViT, a few steps.
TINY = [
    "data=synthetic",
    "model.patch_size=4",
    "model.embed_dim=16",
    "model.depth=1",
    "model.num_heads=2",
    "trainer.max_steps=6",
    "trainer.eval_every=3",
    "trainer.log_every=2",
    "trainer.ckpt_every=3",
    "trainer.progress=false",
    "trainer.device=cpu",
    "logger.wandb.mode=disabled",
]


def compose_cfg(overrides: list[str] | tuple[str, ...] = ()):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.fixture
def tiny_cfg():
    def make(*extra: str):
        return compose_cfg(TINY + list(extra))

    return make
