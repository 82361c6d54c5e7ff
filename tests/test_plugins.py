"""A model and a task from outside the package, each one file plus its yaml (issue 25, part 1):
registered through NORMBENCH_PLUGINS, composed through hydra.searchpath, trained by train.py,
with no other file touched. The derived tables (names, tasks, grad checkpointing, normfree,
the `model` schema) read the registry, so a registered model is in each."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import TINY_RUN, run_script

# One file: a tiny classifier that asks make_norm for each norm place.
TOY_MODEL = '''
from dataclasses import dataclass

from torch import nn

from normbench.errors import ModelConfigError
from normbench.models import ModelSpec, register_model
from normbench.models.spec import MAKE_NORM


@dataclass
class ToyMLPConfig:
    name: str = "toymlp"
    embed_dim: int = 16
    depth: int = 2


class ToyMLP(nn.Module):
    def __init__(self, cfg, make_norm, num_classes, in_chans, img_size):
        super().__init__()
        d = cfg["embed_dim"]
        self.embed = nn.Linear(in_chans * img_size * img_size, d)
        self.blocks = nn.ModuleList(nn.Sequential(make_norm("ffn"), nn.Linear(d, d), nn.GELU())
                                    for _ in range(cfg["depth"]))
        self.norm = make_norm("final")
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        h = self.embed(x.flatten(1))
        for block in self.blocks:
            h = h + block(h)
        return self.head(self.norm(h))


def check(cfg, img_size):
    if cfg["embed_dim"] < 1 or cfg["depth"] < 1:
        raise ModelConfigError(f"model.embed_dim, model.depth = {cfg['embed_dim']}, {cfg['depth']}: must be >= 1")


SPEC = register_model(ModelSpec(
    name="toymlp", config=ToyMLPConfig, task="classify", kind=MAKE_NORM, layouts={MAKE_NORM: ("channels_last",)},
    build=lambda cfg, make_norm, **sizes: ToyMLP(cfg, make_norm, **sizes), check=check,
    normfree={"skipinit": lambda model, cfg: model},
))
'''

# One file: a task (classification with a scaled loss, its own key) and the model it trains.
TOY_TASK = '''
from dataclasses import dataclass

from torch import nn

from normbench.dist import SINGLE
from normbench.models import ModelSpec, register_model
from normbench.models.spec import MAKE_NORM
from normbench.train.classify import ClassifyTask
from normbench.train.task import register_task


@dataclass
class ScaledLinConfig:
    name: str = "scaledlin"


@dataclass
class ScaledConfig:
    name: str = "scaled"
    label_smoothing: float = 0.0
    loss_scale: float = 1.0


@register_task
class ScaledTask(ClassifyTask):
    name = "scaled"
    Config = ScaledConfig

    @classmethod
    def from_config(cls, cfg, device, dist=SINGLE):
        task = super().from_config(cfg, device, dist)
        task.loss_scale = float(cfg.task.loss_scale)
        return task

    def loss(self, model, batch):
        return self.loss_scale * super().loss(model, batch)


def build(cfg, make_norm, *, num_classes, in_chans, img_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * img_size * img_size, 8), make_norm("final", 8),
                         nn.Linear(8, num_classes))


register_model(ModelSpec(name="scaledlin", config=ScaledLinConfig, task="scaled", kind=MAKE_NORM,
                         layouts={MAKE_NORM: ("channels_last",)}, build=build, check=lambda cfg, img_size: None))
'''


def _plugin(tmp_path: Path, module: str, source: str, yamls: dict[str, str]) -> Path:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    for rel, text in yamls.items():
        path = tmp_path / "configs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def _preset(group: str, name: str) -> str:
    return f"defaults:\n  - /schema/{group}/{name}@_here_\n  - _self_\n"


def _train(tmp_path: Path, module: str, *overrides: str) -> dict:
    run_dir = tmp_path / "run"
    result = run_script("train.py", "data=synthetic", *TINY_RUN, "trainer.max_steps=3", *overrides,
                        f"hydra.searchpath=[file://{tmp_path / 'configs'}]", f"hydra.run.dir={run_dir}",
                        env={"NORMBENCH_PLUGINS": module, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["step"] == 3
    return summary


@pytest.mark.slow  # spawns train.py
def test_a_model_in_one_file_trains_through_train_py(tmp_path):
    _plugin(tmp_path, "toy_mlp_model", TOY_MODEL, {"model/toymlp.yaml": _preset("model", "toymlp")})
    summary = _train(tmp_path, "toy_mlp_model", "model=toymlp", "model.embed_dim=8", "norm=dyt")
    assert summary["run"]["model"] == "toymlp"
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "embed_dim: 8" in config and "depth: 2" in config  # the override and the plugin's own default


@pytest.mark.slow  # spawns train.py
def test_a_task_in_one_file_trains_through_train_py(tmp_path):
    _plugin(tmp_path, "toy_scaled_task", TOY_TASK, {"task/scaled.yaml": _preset("task", "scaled"),
                                                    "model/scaledlin.yaml": _preset("model", "scaledlin")})
    summary = _train(tmp_path, "toy_scaled_task", "task=scaled", "task.loss_scale=2.0", "model=scaledlin",
                     "norm=layernorm")
    assert summary["run"]["task"] == "scaled"
    # its loss is its own: the training loss twice the (unscaled) val loss of a model that barely moved
    assert 1.6 < summary["final"]["train/loss"] / summary["final"]["val/loss"] < 2.4


def test_a_registered_model_is_in_every_derived_table(tmp_path, monkeypatch):
    import sys

    from normbench.config import groups
    from normbench.models import build_model, check_model_fits_task, registry
    from normbench.normfree import check_normfree
    from normbench.train.runtime import check_grad_checkpointing
    from normbench.errors import ModelConfigError, NormFreeConfigError, TrainerConfigError

    monkeypatch.setattr(registry, "_MODELS", dict(registry.models()))  # the toy leaves with the test
    monkeypatch.syspath_prepend(str(_plugin(tmp_path, "toy_mlp_model_inproc", TOY_MODEL, {})))
    monkeypatch.delitem(sys.modules, "toy_mlp_model_inproc", raising=False)
    import toy_mlp_model_inproc as toy

    assert "toymlp" in registry.model_names() and registry.model_tasks()["toymlp"] == "classify"
    assert groups()["model"]["toymlp"] is toy.ToyMLPConfig and toy.SPEC.defaults == {"embed_dim": 16, "depth": 2}
    check_model_fits_task("toymlp", "classify")
    with pytest.raises(ModelConfigError, match="models for task=lm: llama"):
        check_model_fits_task("toymlp", "lm")
    with pytest.raises(TrainerConfigError, match="does not fit model=toymlp; allowed with: convnext, llama, resnet, vit"):
        check_grad_checkpointing(True, "toymlp", "dyt")
    from normbench.normfree import METHODS

    assert all(set(spec.normfree) <= set(METHODS) for spec in registry.models().values())  # no misspelt method
    check_normfree({"name": "skipinit"}, "toymlp", "dyt")
    with pytest.raises(NormFreeConfigError, match="models it fits: resnet, vit"):
        check_normfree({"name": "fixup"}, "toymlp", "identity")
    model = build_model({"name": "toymlp", "depth": 3}, {"name": "dyt", "alpha0_final": 0.25},
                        num_classes=4, in_chans=1, img_size=8)
    assert len(model.blocks) == 3 and model.norm.alpha.item() == 0.25  # alpha0_<position> reaches make_norm
    with pytest.raises(ModelConfigError, match="model.width is not a key of model=toymlp"):
        build_model({"name": "toymlp", "width": 3}, {"name": "dyt"}, num_classes=4, in_chans=1, img_size=8)
