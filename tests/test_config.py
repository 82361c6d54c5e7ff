"""The config tree composes with Hydra's compose API, for every group option, with overrides."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from conftest import CONFIGS, compose_cfg

from normbench.config.schema import GROUPS as GROUPS_SCHEMA
from normbench.config.schema import MODELS, DataConfig, OptimConfig
from normbench.config.store import plain_node

GROUPS = ["model", "norm", "data", "optim", "trainer", "logger", "probe"]


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
        if "name" in cfg[group]:  # a preset of an option is named <option>_<what it sets>: dyt_noalpha
            assert option.split("_")[0] == cfg[group].name or cfg[group].name == option, \
                f"configs/{group}/{option}.yaml names itself {cfg[group].name}"


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
    assert OptimConfig().grad_clip is None and "grad_clip" not in OmegaConf.load(CONFIGS / "optim" / "adamw.yaml")
    assert compose_cfg().optim.grad_clip == 1.0


def _preset_body(path) -> tuple[list, dict]:
    """(the defaults list, the keys it sets) of one preset file."""
    raw = OmegaConf.to_container(OmegaConf.load(path))
    return raw.pop("defaults", []), raw


def _restated_defaults(body: dict, schema: dict, where: str) -> list[str]:
    same = []
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(schema.get(key), dict):
            same += _restated_defaults(value, schema[key], f"{where}.{key}")
        elif key in schema and value == schema[key] and key != "name":
            same.append(f"{where}.{key}")
    return same


@pytest.mark.parametrize("group", GROUPS)
def test_every_preset_extends_its_schema_and_holds_only_what_differs(group):
    # One home for keys, types and defaults: a preset that restated a default would be a second one.
    for option in options(group):
        defaults, body = _preset_body(CONFIGS / group / f"{option}.yaml")
        node = f"/schema/model/{option}@_here_" if group == "model" else f"/schema/{group}@_here_"
        assert defaults and defaults[0] == node and defaults[-1] == "_self_", (option, defaults)
        composed = OmegaConf.to_container(compose_cfg([f"{group}={option}"])[group])
        base = plain_node(MODELS[option] if group == "model" else GROUPS_SCHEMA[group])
        assert not _restated_defaults(body, base, group), f"configs/{group}/{option}.yaml restates schema defaults"
        assert set(composed) >= set(body)


def test_composed_keys_are_exactly_the_schema_keys():
    # --cfg job prints every key: the composed config has each schema key, and no other
    for model in MODELS:
        cfg = OmegaConf.to_container(compose_cfg([f"model={model}"]))
        assert set(cfg) == {*GROUPS_SCHEMA, "task", "variant"}
        assert set(cfg["model"]) == set(plain_node(MODELS[model]))
        for group, cls in GROUPS_SCHEMA.items():
            if group != "model":
                assert set(cfg[group]) == set(plain_node(cls)), group
    assert set(compose_cfg(["data=synthetic"]).data) == {*plain_node(DataConfig), "synthetic"}


def test_dyt_without_alpha_is_alpha_fixed_at_one():
    norm = compose_cfg(["norm=dyt_noalpha", "norm.squash=hardtanh"]).norm
    assert (norm.name, norm.alpha0, norm.learnable_alpha, norm.squash) == ("dyt", 1.0, False, "hardtanh")
