"""The config tree composes with Hydra's compose API, for every group option, with overrides."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from conftest import CONFIGS, compose_cfg

GROUPS = ["model", "norm", "data", "optim", "trainer", "logger"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml") if not p.stem.startswith("_"))


def test_default_config_is_the_default_run():
    cfg = compose_cfg()
    assert (cfg.model.name, cfg.norm.name, cfg.data.name, cfg.task) == ("vit", "dyt", "fashion_mnist_mini", "classify")
    assert cfg.norm.alpha0 == 0.5 and cfg.norm.squash == "tanh" and cfg.norm.learnable_alpha is True
    assert cfg.logger.wandb.mode == "offline"
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # nothing left unset


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes(group):
    assert options(group), f"configs/{group} has no options"
    for option in options(group):
        cfg = compose_cfg([f"{group}={option}"])
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        if "name" in cfg[group]:
            assert cfg[group].name == option, f"configs/{group}/{option}.yaml names itself {cfg[group].name}"


def test_every_norm_has_the_same_keys():
    # One sweep crosses norms with DyT's keys (-m norm=layernorm,dyt norm.alpha0=0.5,1.0).
    keys = {opt: set(compose_cfg([f"norm={opt}"]).norm) for opt in options("norm")}
    assert len({frozenset(k) for k in keys.values()}) == 1, keys
    assert {"alpha0", "squash", "learnable_alpha", "impl"} <= keys["dyt"]


def test_overrides_reach_the_config():
    cfg = compose_cfg(["model=convnext", "norm=layernorm", "norm.alpha0=0.8", "trainer.seed=3", "optim.lr=1e-4"])
    assert (cfg.model.name, cfg.norm.name, cfg.norm.alpha0, cfg.trainer.seed, cfg.optim.lr) == (
        "convnext", "layernorm", 0.8, 3, 1e-4)


def test_unknown_key_and_unknown_option_are_hydra_errors():
    from hydra.errors import ConfigCompositionException, MissingConfigException

    with pytest.raises(ConfigCompositionException, match="alpha_0"):
        compose_cfg(["norm.alpha_0=0.5"])
    with pytest.raises(MissingConfigException, match="foo"):
        compose_cfg(["norm=foo"])


def test_paper_recipe_has_no_clipping_default_run_opts_in():
    assert OmegaConf.load(CONFIGS / "optim" / "adamw.yaml").grad_clip is None
    assert compose_cfg().optim.grad_clip == 1.0
