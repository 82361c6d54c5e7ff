"""The optim group's recipes: torchvision's SGD (optim=sgd, claim C8) beside the paper's AdamW.

Checked against what torchvision does, written out here: plain momentum 0.9 (not Nesterov),
one weight decay on every parameter, lr / 10 at fixed points of the run.
"""

from __future__ import annotations

import pytest
import torch

from conftest import compose_cfg

from normbench.norms import build_norm
from normbench.track import read_metrics
from normbench.train import OptimConfigError, train
from normbench.train.optim import build_optimizer, build_schedule, lr_factor


def small_model():
    # conv weight (4-D), conv bias and linear bias (1-D), DyT's alpha (0-D), weight and bias (1-D)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), build_norm("dyt", 4, layout="channels_first"),
                               torch.nn.Flatten(), torch.nn.Linear(4, 2))


def sgd(**overrides):
    return {**compose_cfg(["optim=sgd"]).optim, **overrides}


def test_the_sgd_preset_is_torchvisions_recipe_as_written():
    # configs/train.yaml's default-run lr and clipping belong to adamw; they must not reach optim=sgd
    optim = compose_cfg(["optim=sgd"]).optim
    assert (optim.name, optim.lr, optim.weight_decay, optim.momentum, optim.nesterov, optim.decay_1d) == (
        "sgd", 0.05, 1e-4, 0.9, False, True)
    assert (optim.warmup_steps, optim.schedule, optim.step_gamma, optim.grad_clip) == (0, "step", 0.1, None)
    assert (compose_cfg().optim.lr, compose_cfg().optim.grad_clip) == (2e-3, 1.0)  # the default run keeps its own


def test_sgd_preset_builds_plain_momentum_with_weight_decay_on_every_parameter():
    model = small_model()
    opt = build_optimizer(model, compose_cfg(["optim=sgd"]).optim)
    assert type(opt) is torch.optim.SGD
    assert len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"], group["lr"]) == (0.9, False, 1e-4, 0.05)
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters()}  # alpha and biases included


def test_decay_1d_false_keeps_norms_biases_and_alpha_out_of_weight_decay():
    model = small_model()
    opt = build_optimizer(model, sgd(decay_1d=False))
    assert all(not g["nesterov"] and g["momentum"] == 0.9 for g in opt.param_groups)
    decay = {id(p) for g in opt.param_groups if g["weight_decay"] == 1e-4 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decay) == (p.ndim >= 2), name


def test_sgd_without_the_preset_is_timms_nesterov():
    # optim.name=sgd alone keeps its meaning from before the nesterov key: timm's Nesterov SGD
    opt = build_optimizer(small_model(), {"name": "sgd", "lr": 0.1, "weight_decay": 0.0})
    assert type(opt) is torch.optim.SGD and all(g["nesterov"] for g in opt.param_groups)


def test_step_schedule_factors():
    # 12 steps, milestones at 1/3 and 2/3: lr / 10 from step 4, / 100 from step 8
    factors = [lr_factor(s, 12, 0, 0.01, "step", milestones=[1 / 3, 2 / 3], step_gamma=0.1) for s in range(12)]
    assert factors == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])
    warm = [lr_factor(s, 12, 2, 0.01, "step", milestones=[0.5], step_gamma=0.5) for s in range(12)]
    assert warm == pytest.approx([0.5, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])  # warmup, then from step 6


def test_step_schedule_through_the_scheduler():
    opt = build_optimizer(small_model(), sgd())
    schedule = build_schedule(opt, sgd(), max_steps=9)
    lrs = []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs == pytest.approx([0.05] * 3 + [0.005] * 3 + [0.0005] * 3)


@pytest.mark.parametrize("key,value,message", [
    ("schedule", "linear", r"^optim.schedule = 'linear' is unknown; allowed: cosine, constant, step$"),
    ("milestones", [0.5, 1.5], r"^optim.milestones = \[0.5, 1.5\] is not allowed: each must be a fraction"),
    ("milestones", [0.0], r"^optim.milestones = \[0.0\] is not allowed"),
    ("step_gamma", 0.0, r"^optim.step_gamma = 0.0 is not allowed: must be in \(0, 1\]$"),
    ("step_gamma", 2.0, r"^optim.step_gamma = 2.0 is not allowed"),
    ("momentum", 1.0, r"^optim.momentum = 1.0 is not allowed: must be in \[0, 1\)$"),
])
def test_bad_values_are_named_errors(key, value, message):
    with pytest.raises(OptimConfigError, match=message):
        build_optimizer(small_model(), sgd(**{key: value}))
    with pytest.raises(OptimConfigError, match=message):
        build_schedule(torch.optim.SGD(small_model().parameters(), lr=0.1), sgd(**{key: value}), max_steps=10)


def test_nesterov_needs_momentum():
    with pytest.raises(OptimConfigError, match=r"^optim.nesterov = True is not allowed with optim.momentum = 0"):
        build_optimizer(small_model(), sgd(nesterov=True, momentum=0.0))


def test_vgg_with_dyt_trains_on_the_sgd_recipe(tmp_path):
    cfg = compose_cfg(["model=vgg", "model.layers=[8,M,16,M]", "norm=dyt", "optim=sgd", "data=synthetic",
                       "trainer.max_steps=6", "trainer.eval_every=6", "trainer.log_every=1", "trainer.ckpt_every=6",
                       "trainer.progress=false", "trainer.device=cpu", "logger.wandb.mode=disabled"])
    summary = train(cfg, tmp_path)
    assert summary["status"] == "ok"
    lrs = [e["lr"] for e in read_metrics(tmp_path / "metrics.jsonl", split="train")]
    assert lrs == pytest.approx([0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005])


# -- optim.fused: torch's fused AdamW kernel, one call a step ------------------------------------
def adamw(**overrides):
    return {**compose_cfg([]).optim, **overrides}


def test_adamw_runs_torchs_fused_kernel_where_it_exists():
    assert compose_cfg([]).optim.fused is None  # null: fused where torch has it
    assert build_optimizer(small_model(), adamw()).defaults["fused"] is True
    assert build_optimizer(small_model(), adamw(fused=True)).defaults["fused"] is True
    assert not build_optimizer(small_model(), adamw(fused=False)).defaults.get("fused")
    assert not build_optimizer(small_model(), sgd()).defaults.get("fused")  # sgd: the per-tensor loop


@pytest.mark.parametrize("fused", [True, False])
def test_adamw_steps_follow_the_written_formula(fused):
    """Three steps against AdamW written out: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
    p -= lr wd p (not on 1-D / 0-D parameters), p -= lr m_hat / (sqrt(v_hat) + eps)."""
    torch.manual_seed(0)
    model = small_model()
    cfg = adamw(fused=fused, lr=0.01, weight_decay=0.1)
    opt = build_optimizer(model, cfg)
    b1, b2, eps = *cfg["betas"], 1e-8
    grads = {p: [torch.randn_like(p) for _ in range(3)] for p in model.parameters()}
    want = {}
    for p in model.parameters():
        x, m, v = p.detach().double().clone(), 0.0, 0.0
        wd = 0.1 if p.ndim > 1 else 0.0
        for t, g in enumerate(grads[p], start=1):
            g = g.double()
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            x = x - 0.01 * wd * x
            x = x - 0.01 * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
        want[p] = x
    for t in range(3):
        for p in model.parameters():
            p.grad = grads[p][t].clone()
        opt.step()
    for p in model.parameters():
        torch.testing.assert_close(p.detach().double(), want[p], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "lamb", "lion"])
def test_fused_true_without_a_fused_kernel_is_a_named_error(name):
    with pytest.raises(OptimConfigError, match=rf"^optim.fused = True is not allowed with optim.name = '{name}'"):
        build_optimizer(small_model(), {**adamw(fused=True), "name": name})
