"""The config tree composes with Hydra's compose API, for every group option, with overrides."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from conftest import CONFIGS, compose_cfg

from normbench.config.groups import groups
from normbench.config.schema import DataConfig, OptimConfig
from normbench.config.store import plain_node

GROUPS = ["model", "norm", "data", "optim", "trainer", "logger", "probe", "task"]
GROUPS_SCHEMA = groups()
MODELS, TASKS = GROUPS_SCHEMA["model"], GROUPS_SCHEMA["task"]  # from the registries: each model's / task's own
PER_OPTION = {"model": MODELS, "task": TASKS}  # groups with one schema per option


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml") if not p.stem.startswith("_"))


def test_default_config_is_the_default_run():
    cfg = compose_cfg()
    assert (cfg.model.name, cfg.norm.name, cfg.data.name, cfg.task.name) == ("vit", "dyt", "fashion_mnist_mini",
                                                                              "classify")
    assert (cfg.optim.name, cfg.task.label_smoothing) == ("adamw", 0.1)
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
        node = f"/schema/{group}/{option}" if group in PER_OPTION else f"/schema/{group}"
        # a task preset that chooses other groups' defaults (task=lm) is _global_: its keys go @task
        assert defaults and defaults[0] in (f"{node}@_here_", f"{node}@{group}") and defaults[-1] == "_self_", \
            (option, defaults)
        composed = OmegaConf.to_container(compose_cfg([f"{group}={option}"])[group])
        base = plain_node(PER_OPTION[group][option] if group in PER_OPTION else GROUPS_SCHEMA[group])
        assert not _restated_defaults(body, base, group), f"configs/{group}/{option}.yaml restates schema defaults"
        assert set(composed) >= set(body)


def test_composed_keys_are_exactly_the_schema_keys():
    # --cfg job prints every key: the composed config has each schema key, and no other
    for model in MODELS:
        cfg = OmegaConf.to_container(compose_cfg([f"model={model}"]))
        assert set(cfg) == {*GROUPS_SCHEMA, "variant"}
        assert set(cfg["model"]) == set(plain_node(MODELS[model]))
        for group, cls in GROUPS_SCHEMA.items():
            if group not in PER_OPTION:
                assert set(cfg[group]) == set(plain_node(cls)), group
    for task in TASKS:
        assert set(compose_cfg([f"task={task}"]).task) == set(plain_node(TASKS[task]))
    assert set(compose_cfg(["data=synthetic"]).data) == {*plain_node(DataConfig), "synthetic"}


def test_dyt_without_alpha_is_alpha_fixed_at_one():
    norm = compose_cfg(["norm=dyt_noalpha", "norm.squash=hardtanh"]).norm
    assert (norm.name, norm.alpha0, norm.learnable_alpha, norm.squash) == ("dyt", 1.0, False, "hardtanh")


# -- the task group ---------------------------------------------------------------------------
def test_task_lm_makes_llama_shakespeare_and_the_llama_recipe_the_defaults():
    cfg = compose_cfg(["task=lm"])
    assert (cfg.task.name, cfg.model.name, cfg.data.name) == ("lm", "llama", "shakespeare")
    assert OmegaConf.to_container(cfg.optim) == OmegaConf.to_container(compose_cfg(["optim=adamw_llama"]).optim)
    assert list(cfg.optim.betas) == [0.9, 0.95] and cfg.optim.decay_1d is True
    assert "label_smoothing" not in cfg.task  # classification's, not lm's
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def test_explicit_model_data_and_optim_win_over_the_task_defaults():
    cfg = compose_cfg(["task=lm", "norm=rmsnorm", "data=text", "data.paths=[corpus.txt]"])
    assert (cfg.model.name, cfg.norm.name, cfg.data.name, list(cfg.data.paths)) == \
        ("llama", "rmsnorm", "text", ["corpus.txt"])
    assert compose_cfg(["task=lm", "optim=adamw"]).optim.lr == 1e-3  # the paper's AdamW: the user chose it
    assert compose_cfg(["model=vit", "task=lm"]).model.name == "vit"  # the order on the command line does not matter
    # task=classify keeps the image defaults whatever came before
    cfg = compose_cfg(["task=classify"])
    assert (cfg.model.name, cfg.data.name, cfg.optim.lr) == ("vit", "fashion_mnist_mini", 2e-3)


def test_the_default_runs_recipe_applies_to_the_default_run_only():
    default = compose_cfg()
    assert (default.optim.lr, default.optim.grad_clip, default.task.label_smoothing) == (2e-3, 1.0, 0.1)
    # an explicit choice is the preset as written: the schema's values, nothing of the default run's
    explicit = compose_cfg(["optim=adamw", "task=classify"])
    assert OmegaConf.to_container(explicit.optim) == plain_node(OptimConfig)
    assert OmegaConf.to_container(explicit.task) == plain_node(TASKS["classify"])
    # each group on its own: choosing one leaves the default run's other group as it was
    assert compose_cfg(["optim=adamw"]).task.label_smoothing == 0.1
    assert (compose_cfg(["task=classify"]).optim.lr, compose_cfg(["task=classify"]).optim.grad_clip) == (2e-3, 1.0)
    # the default-run presets are the plain presets plus the default run's keys, nothing else
    differs = {k for k in default.optim if default.optim[k] != explicit.optim[k]}
    assert differs == {"lr", "grad_clip"}
    assert {k for k in default.task if default.task[k] != explicit.task[k]} == {"label_smoothing"}


def test_label_smoothing_belongs_to_the_classification_task():
    assert "label_smoothing" not in compose_cfg().trainer
    assert compose_cfg(["task.label_smoothing=0.2"]).task.label_smoothing == 0.2
    assert compose_cfg(["optim=sgd"]).task.label_smoothing == 0.1  # the default run's, whatever the optimizer
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="task.label_smoothing"):
        compose_cfg(["task=lm", "task.label_smoothing=0.1"])


def test_an_unknown_task_names_the_tasks():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="task/segment") as info:
        compose_cfg(["task=segment"])
    assert "classify" in str(info.value) and "lm" in str(info.value)
