"""How fast alpha can move (issue 26): norm.alpha_lr_mult, norm.alpha_param=log and
norm.alpha0_mode=data, each against its written formula."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from normbench.norms import NormConfigError, build_norm
from normbench.track import read_probes
from normbench.train import train
from normbench.train.alpha0_data import ALPHA0_FILE, calibrate_alpha0
from normbench.train.optim import build_optimizer

ADAMW = {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05}


def two_layer(**dyt) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), build_norm("dyt", 8, **dyt), nn.Linear(8, 3))


def group_of(optimizer, param) -> dict:
    return next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))


# -- norm.alpha_lr_mult: alpha's own param group at lr * mult ------------------------------------
def test_alpha_lr_mult_gives_alpha_its_own_group_at_a_multiple_of_the_lr():
    model = two_layer(alpha_lr_mult=10.0)
    opt = build_optimizer(model, ADAMW)
    alpha, weight = model[1].alpha, model[0].weight
    assert group_of(opt, alpha)["lr"] == pytest.approx(1e-2) and group_of(opt, alpha)["weight_decay"] == 0
    assert group_of(opt, weight)["lr"] == pytest.approx(1e-3) and group_of(opt, weight)["weight_decay"] == 0.05
    assert [p for p in group_of(opt, alpha)["params"]] == [alpha]  # alone: nothing else moved with it
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_alpha_lr_mult_scales_adams_first_step_on_alpha():
    # Adam's first step moves a parameter by lr * g / (|g| + eps) ~ lr * sign(g), with no weight decay on alpha
    for mult in (1.0, 10.0):
        model = two_layer(alpha_lr_mult=mult)
        opt = build_optimizer(model, {**ADAMW, "betas": [0.9, 0.999]})
        before = model[1].alpha.item()
        model(torch.randn(16, 6)).pow(2).mean().backward()
        g = model[1].alpha.grad.item()
        opt.step()
        assert model[1].alpha.item() - before == pytest.approx(-1e-3 * mult * (1 if g > 0 else -1), rel=1e-3)


def test_alpha_lr_mult_1_changes_nothing():
    a, b = build_optimizer(two_layer(), ADAMW), build_optimizer(two_layer(alpha_lr_mult=1.0), ADAMW)
    assert [(g["lr"], len(g["params"])) for g in a.param_groups] == [(g["lr"], len(g["params"])) for g in b.param_groups]


@pytest.mark.parametrize("key, value", [("alpha_lr_mult", 0.0), ("alpha_lr_mult", -1.0), ("alpha_param", "exp"),
                                        ("alpha0_mode", "auto"), ("alpha0_c", 0.0)])
def test_bad_knob_values_are_named_errors(key, value):
    with pytest.raises(NormConfigError, match=rf"norm.{key} = {value!r} "):
        build_norm("dyt", 4, **{key: value})


# -- norm.alpha_param=log: alpha = alpha0 * exp(s) -----------------------------------------------
@pytest.mark.parametrize("impl", ["eager", "fused"])
def test_log_alpha_forward_and_gradient_follow_the_formula(impl):
    from normbench.norms.fused import unavailable_reason

    if impl == "fused" and unavailable_reason(torch.device("cpu")):
        pytest.skip("no C compiler for the fused kernel")
    m = build_norm("dyt", 8, alpha0=0.7, alpha_param="log", impl=impl)
    with torch.no_grad():
        m.alpha_log.fill_(0.3)
        m.weight.copy_(torch.linspace(0.5, 1.5, 8))
        m.bias.copy_(torch.linspace(-0.2, 0.2, 8))
    x = torch.randn(4, 64, 8)  # 2048 elements: big enough for auto, forced here anyway
    y = m(x)
    a = 0.7 * torch.exp(torch.tensor(0.3))
    w, b = m.weight.detach(), m.bias.detach()
    torch.testing.assert_close(y, w * torch.tanh(a * x) + b, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    # d/ds sum(w * tanh(a x) + b), a = alpha0 e^s: sum(w * sech^2(a x) * x) * a
    expected = (w * (1 - torch.tanh(a * x) ** 2) * x).sum() * a
    torch.testing.assert_close(m.alpha_log.grad, expected.reshape(1), rtol=1e-4, atol=1e-5)
    assert m.alpha.item() == pytest.approx(a.item()) and not isinstance(m.alpha, nn.Parameter)


def test_log_alpha_starts_at_alpha0_round_trips_a_checkpoint_and_steps_relatively():
    m = build_norm("dyt", 4, alpha0=2.0, alpha_param="log")
    assert m.alpha.item() == pytest.approx(2.0) and m.alpha_log.item() == 0
    with torch.no_grad():
        m.alpha_log.fill_(-0.5)
    fresh = build_norm("dyt", 4, alpha0=2.0, alpha_param="log")
    fresh.load_state_dict(m.state_dict())
    assert fresh.alpha.item() == pytest.approx(2.0 * torch.exp(torch.tensor(-0.5)).item())
    # the same Adam step on s moves a large alpha further than a small one: relative steps
    moves = []
    for alpha0 in (0.1, 10.0):
        model = nn.Sequential(nn.Linear(6, 8), build_norm("dyt", 8, alpha0=alpha0, alpha_param="log"))
        opt = build_optimizer(model, ADAMW)
        model(torch.randn(16, 6)).pow(2).mean().backward()
        opt.step()
        moves.append(abs(model[1].alpha.item() - alpha0) / alpha0)
    assert moves[0] == pytest.approx(moves[1], rel=1e-3) and moves[0] == pytest.approx(1e-3, rel=1e-2)


# -- norm.alpha0_mode=data: alpha = c / std(input), layer by layer -------------------------------
def test_data_alpha0_calibrates_each_layer_on_its_calibrated_predecessors_input():
    torch.manual_seed(0)
    first = build_norm("dyt", 8, alpha0_mode="data", alpha0_c=1.5)
    second = build_norm("dyt", 8, alpha0_mode="data", alpha0_c=1.5)
    lin1, lin2 = nn.Linear(6, 8), nn.Linear(8, 8)
    with torch.no_grad():
        lin2.weight.mul_(5.0)
    model = nn.Sequential(lin1, first, lin2, second)
    x = torch.randn(32, 6)
    found = calibrate_alpha0(model, x)
    with torch.no_grad():
        h1 = lin1(x)
        a1 = 1.5 / h1.std()
        h2 = lin2(first.weight * torch.tanh(a1 * h1) + first.bias)  # the input after layer 1 is calibrated
        a2 = 1.5 / h2.std()
    assert first.alpha.item() == pytest.approx(a1.item(), rel=1e-5)
    assert second.alpha.item() == pytest.approx(a2.item(), rel=1e-5)
    assert [v["order"] for v in found.values()] == [0, 1]
    assert found["3"]["input_std"] == pytest.approx(h2.std().item(), rel=1e-5)
    assert found["1"]["alpha0"] == pytest.approx(a1.item(), rel=1e-5) and found["1"]["alpha0_c"] == 1.5
    assert model.training  # back in the mode it was in


def test_fixed_alpha0_mode_is_left_alone():
    model = nn.Sequential(nn.Linear(6, 8), build_norm("dyt", 8, alpha0=0.5))
    assert calibrate_alpha0(model, torch.randn(4, 6)) == {} and model[1].alpha.item() == 0.5


@pytest.mark.train
def test_a_run_with_data_alpha0_records_it_and_its_first_probe_sees_it(tiny_cfg, tmp_path):
    train(tiny_cfg("norm=dyt", "norm.alpha0_mode=data", "norm.alpha0_c=2.0", "probe.every=3",
                   "norm.alpha_param=log", "norm.alpha_lr_mult=10"), tmp_path)
    found = json.loads((tmp_path / ALPHA0_FILE).read_text())
    assert found and all(v["alpha0"] * v["input_std"] == pytest.approx(2.0) for v in found.values())
    at_init = {line["layer"]: line for line in read_probes(tmp_path / "probes.jsonl") if line["step"] == 0}
    for layer, v in found.items():
        # the probe's input_std is over the same probe batch, in the same forward order
        assert at_init[layer]["alpha"] * at_init[layer]["input_std"] == pytest.approx(2.0, rel=1e-4)
    later = [line for line in read_probes(tmp_path / "probes.jsonl") if line["step"] > 0 and line["layer"] in found]
    assert later and all(line["alpha_lr"] is not None and line["alpha_steps"] > 0 for line in later)
