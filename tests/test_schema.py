"""The config schema (normbench/config): one home of keys, types and defaults, and a wrong
type is one ConfigError line that names the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from conftest import compose_cfg

import normbench.errors as errors
from normbench.config import validate_config
from normbench.config import groups
from normbench.config.schema import OptimConfig, SyntheticConfig, TrainerConfig, defaults_of
from normbench.train.classify import ClassifyTaskConfig
from normbench.errors import ConfigError, InputError


def message(overrides: list[str]) -> str:
    cfg = compose_cfg(overrides)  # Hydra composes plain nodes: a wrong type gets through to us
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    return str(err.value)


@pytest.mark.parametrize("overrides, expected", [
    (["optim.lr=abc"], "optim.lr = 'abc' is not allowed: must be a float"),
    (["trainer.seed=abc"], "trainer.seed = 'abc' is not allowed: must be an int"),
    (["data.batch_size=abc"], "data.batch_size = 'abc' is not allowed: must be an int"),
    (["trainer.seed=1.5"], "trainer.seed = 1.5 is not allowed: must be an int"),
    (["norm.alpha0=true"], "norm.alpha0 = True is not allowed: must be a float"),
    (["norm.eps=x"], "norm.eps = 'x' is not allowed: must be null or a float"),
    (["data.augment.hflip=maybe"], "data.augment.hflip = 'maybe' is not allowed: must be a bool (true or false)"),
    (["data.augment=3"], "data.augment = 3 is not allowed: must be a mapping with keys crop_padding, hflip"),
    (["data=synthetic", "data.synthetic.img_size=big"],
     "data.synthetic.img_size = 'big' is not allowed: must be an int"),
    (["optim.betas=[0.9,x]"], "optim.betas = [0.9, 'x'] is not allowed: must be a list of floats"),
    (["model=convnext", "model.dims=[a]"], "model.dims = ['a'] is not allowed: must be a list of ints"),
    (["trainer.resume=3"], "trainer.resume = 3 is not allowed: must be false, true, or a path"),
    (["logger.wandb.tags=x"], "logger.wandb.tags = 'x' is not allowed: must be a list of strings"),
    (["probe.every=often"], "probe.every = 'often' is not allowed: must be an int"),
    (["probe.monitor.var_min=x"], "probe.monitor.var_min = 'x' is not allowed: must be a float"),
    (["variant=[1]"], "variant = [1] is not allowed: must be null or a string"),
    (["task.label_smoothing=abc"], "task.label_smoothing = 'abc' is not allowed: must be a float"),
    (["data.train_bytes=lots"], "data.train_bytes = 'lots' is not allowed: must be null or an int"),
])
def test_a_wrong_type_is_one_line_naming_key_value_and_allowed(overrides, expected):
    assert message(overrides) == expected


def test_a_key_no_schema_has_is_named_with_the_allowed_ones():
    # Hydra rejects unknown keys in overrides; `+key=` adds one anyway, and the schema names it
    assert message(["+trainer.max_step=5"]).startswith(
        "trainer.max_step = 5 is not a known key; allowed: max_steps, eval_every, ")
    assert message(["+epochs=5"]).startswith("epochs = 5 is not a known key; allowed: model, norm, normfree, data, ")
    # each task has its own keys: label smoothing is classification's
    assert message(["task=lm", "+task.label_smoothing=0.1"]) == \
        "task.label_smoothing = 0.1 is not a known key; allowed: name"


def test_config_error_is_an_input_error_so_train_py_prints_one_line():
    assert issubclass(ConfigError, InputError)


def test_every_composed_option_is_valid_and_comes_back_unchanged():
    for overrides in ([], ["model=convnext"], ["model=resnet", "norm=batchnorm"], ["data=synthetic"], ["task=lm"]):
        cfg = compose_cfg(overrides)
        before = OmegaConf.to_container(cfg)
        assert validate_config(cfg) is cfg
        assert OmegaConf.to_container(cfg) == before


def test_strings_that_stand_for_a_value_are_converted_in_place():
    # a quoted override or a YAML "1e-3" is a string; the code that reads the config gets the type
    cfg = compose_cfg(["optim.lr='1e-3'", "trainer.seed='3'", "norm.learnable_alpha='false'", "optim.warmup_steps=0"])
    validate_config(cfg)
    assert (cfg.optim.lr, cfg.trainer.seed, cfg.norm.learnable_alpha) == (1e-3, 3, False)
    assert type(cfg.optim.lr) is float and type(cfg.trainer.seed) is int


def test_interpolations_are_left_unresolved():
    cfg = compose_cfg(["logger.wandb.name=${model.name}-${trainer.seed}"])
    validate_config(cfg)
    assert OmegaConf.to_container(cfg)["logger"]["wandb"]["name"] == "${model.name}-${trainer.seed}"
    assert cfg.logger.wandb.name == "vit-0"


def test_an_unknown_model_name_passes_the_schema_and_fails_before_anything_is_built():
    from normbench.models import ModelConfigError
    from normbench.train.preflight import preflight

    cfg = compose_cfg(["model.name=foo"])
    validate_config(cfg)  # the schema checks types; which models exist is the model registry's
    with pytest.raises(ModelConfigError, match=r"model.name = 'foo' is unknown; allowed: .*llama.*vit"):
        preflight(cfg)


def test_one_group_as_a_plain_dict():
    assert validate_config({"lr": "2e-3", "betas": [0.9, 0.95]}, group="optim") == {"lr": 2e-3, "betas": [0.9, 0.95]}
    with pytest.raises(ConfigError, match=r"^model.depth = 'deep' is not allowed: must be an int$"):
        validate_config({"name": "vit", "depth": "deep"}, group="model")
    with pytest.raises(ConfigError, match="group = 'optimizer' is unknown; allowed: model, norm, normfree, data"):
        validate_config({}, group="optimizer")


def test_python_defaults_are_the_schemas():
    # build_norm, build_model and make_synthetic fill in what a caller leaves out from the schema
    from normbench.data.synthetic import DEFAULTS as SYNTHETIC
    from normbench.models import convnext, resnet, vit
    from normbench.norms.registry import norm_config, norm_defaults

    NORM = norm_defaults()
    assert NORM == {**defaults_of(norm_config()), "device": None, "dtype": None}
    assert NORM["alpha0"] == 0.5 and NORM["squash"] == "tanh" and NORM["num_groups"] == 32
    assert NORM["eps"] is None  # the norms disagree (1e-6, 1e-5): null is each norm's own
    for module in (vit, convnext, resnet):  # the model group's schema is the model file's own dataclass
        assert module.DEFAULTS == defaults_of(groups()["model"][module.SPEC.name]) == module.SPEC.defaults
    assert vit.DEFAULTS["patch_size"] == 7 and convnext.DEFAULTS["dims"] == [32, 64, 128]
    assert SYNTHETIC == dataclasses.asdict(SyntheticConfig())


def test_the_default_run_is_the_schema_plus_its_recipe():
    cfg = compose_cfg()
    assert OmegaConf.to_container(cfg.trainer) == dataclasses.asdict(TrainerConfig())
    assert OmegaConf.to_container(cfg.task) == {**dataclasses.asdict(ClassifyTaskConfig()), "label_smoothing": 0.1}
    assert OmegaConf.to_container(cfg.optim) == {**dataclasses.asdict(OptimConfig()), "lr": 2e-3, "grad_clip": 1.0}


def test_the_input_error_family_has_one_home():
    # every subclass lives in normbench.errors; the packages re-export the same classes
    from normbench.data import DataError
    from normbench.models import ModelConfigError
    from normbench.norms import NormConfigError
    from normbench.train.checkpoint import CheckpointError
    from normbench.train.optim import OptimConfigError
    from normbench.train.runtime import TrainerConfigError

    for cls in (DataError, ModelConfigError, NormConfigError, CheckpointError, OptimConfigError, TrainerConfigError,
                errors.LoggerConfigError, errors.ConfigError):
        assert cls.__module__ == "normbench.errors" and issubclass(cls, InputError), cls
        assert getattr(errors, cls.__name__) is cls
