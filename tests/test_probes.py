"""Probes against hand-written formulas, in a real run, and the health monitor on a planted bad layer."""

from __future__ import annotations

import logging

import pytest
import torch

from normbench.norms import build_norm
from normbench.probes import HealthMonitor, NormProbe, layer_stats, pre_affine
from normbench.track import read_probes, read_summary
from normbench.train import train
from normbench.train.loop import Run


def test_layer_stats_follow_the_formulas():
    torch.manual_seed(0)
    dyt = build_norm("dyt", 6, alpha0=0.7)
    with torch.no_grad():
        dyt.weight.copy_(torch.arange(6.0))
    x = torch.randn(4, 5, 6) * 3
    s = layer_stats(dyt, x, dyt(x))
    x64 = x.double().flatten()
    std = ((x64 - x64.mean()) ** 2).sum().div(x64.numel() - 1).sqrt().item()  # std over ALL elements
    assert s["input_std"] == pytest.approx(std, rel=1e-5)
    assert s["inv_std"] == pytest.approx(1 / std, rel=1e-5)
    assert s["alpha"] == pytest.approx(0.7)
    assert s["saturation"] == pytest.approx(((0.7 * x64).abs() > 2).double().mean().item())
    assert s["weight_mean"] == pytest.approx(2.5) and s["weight_std"] == pytest.approx(torch.arange(6.0).std().item())
    assert s["bias_mean"] == 0 and s["nonfinite"] == 0
    bn = build_norm("batchnorm", 3, layout="channels_first")
    with torch.no_grad():
        bn.running_var.copy_(torch.tensor([0.5, 2.0, 4.0]))
    b = layer_stats(bn, torch.randn(2, 3, 4, 4))
    assert (b["running_var_min"], b["running_var_max"]) == (0.5, 4.0) and b["running_var_mean"] == pytest.approx(6.5 / 3)
    assert "alpha" not in b


def test_nonfinite_inputs_are_counted_and_left_out_of_the_std():
    x = torch.tensor([[1.0, 2.0, float("nan"), 3.0]])
    s = layer_stats(build_norm("layernorm", 4), x)
    assert s["nonfinite"] == 1 and s["input_std"] == pytest.approx(1.0)


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_pre_affine_is_the_norm_before_weight_and_bias(layout):
    torch.manual_seed(1)
    x = torch.randn(2, 5, 3, 3, dtype=torch.float64) * 2 + 1
    rows = (x.movedim(1, -1) if layout == "channels_first" else x).reshape(-1, 3 if layout == "channels_last" else 5)
    c = rows.shape[1]
    ln = build_norm("layernorm", c, layout=layout, eps=1e-6)
    mu = rows.mean(-1, keepdim=True)
    var = ((rows - mu) ** 2).mean(-1, keepdim=True)
    torch.testing.assert_close(pre_affine(ln, x).double(), (rows - mu) / torch.sqrt(var + 1e-6), rtol=1e-5, atol=1e-5)
    rms = build_norm("rmsnorm", c, layout=layout, eps=1e-6)  # no mean subtraction
    torch.testing.assert_close(pre_affine(rms, x).double(), rows / torch.sqrt((rows ** 2).mean(-1, keepdim=True) + 1e-6),
                               rtol=1e-5, atol=1e-5)
    dyt = build_norm("dyt", c, layout=layout, alpha0=0.3)
    torch.testing.assert_close(pre_affine(dyt, x).double(), torch.tanh(0.3 * rows), rtol=1e-5, atol=1e-5)
    assert pre_affine(build_norm("batchnorm", c, layout="channels_first"), x) is None


def test_probe_leaves_the_model_as_it_was():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), build_norm("batchnorm", 8), build_norm("dyt", 8))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lines = NormProbe(model, torch.randn(16, 4))(scurve=True)
    assert model.training and not any(m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched
    stats = [line for line in lines if line["kind"] == "stats"]
    assert [(s["layer"], s["norm"], s["depth_index"]) for s in stats] == [("1", "batchnorm", 0), ("2", "dyt", 1)]
    assert [line["layer"] for line in lines if line["kind"] == "scurve"] == ["2"]  # BatchNorm has no per-row curve


def test_every_run_writes_probes_per_layer_and_they_do_not_change_training(tiny_cfg, tmp_path):
    on = train(tiny_cfg("probe.every=2", "probe.scurve_steps=[0,-1]", "probe.scurve_tokens=3",
                        "probe.scurve_channels=5"), tmp_path / "on")
    off = train(tiny_cfg("probe.enabled=false"), tmp_path / "off")
    assert on["final"] == off["final"]  # the probe forward touches no weight, statistic or RNG
    assert not (tmp_path / "off" / "probes.jsonl").exists()
    stats = read_probes(tmp_path / "on" / "probes.jsonl")
    layers = ["blocks.0.norm1", "blocks.0.norm2", "fc_norm"]  # every norm place of the 1-block ViT
    assert {(s["step"], s["layer"]) for s in stats} == {(st, la) for st in (0, 2, 4, 6) for la in layers}  # 0: init
    assert all(s["alpha"] == pytest.approx(0.5) for s in stats if s["step"] == 0)
    assert all(s["alpha"] > 0 and s["inv_std"] == pytest.approx(1 / s["input_std"]) for s in stats)
    curves = read_probes(tmp_path / "on" / "probes.jsonl", kind="scurve")
    assert {c["step"] for c in curves} == {0, 6} and {c["layer"] for c in curves} == set(layers)
    assert all(len(c["x"]) == 3 and len(c["x"][0]) == 5 for c in curves)


def test_tracker_names_probe_series_per_layer(tiny_cfg, tmp_path, monkeypatch):
    logged = {}
    from normbench.track import tracker

    monkeypatch.setattr(tracker.WandbRun, "log", lambda self, metrics, step: logged.update(metrics))
    train(tiny_cfg("probe.every=3"), tmp_path)
    assert {"probe/blocks.0.norm1/alpha", "probe/blocks.0.norm1/inv_std", "train/loss", "val/acc1"} <= set(logged)


def test_monitor_conditions():
    m = HealthMonitor(saturation=0.5, alpha_min=1e-3, var_min=1e-8, var_max=1e6)
    ok = {"kind": "stats", "layer": "a", "alpha": 0.5, "saturation": 0.1, "nonfinite": 0}
    assert m([ok]) == []
    bad = [{"kind": "stats", "layer": "a", "alpha": 1e-5, "saturation": 0.9, "nonfinite": 3},
           {"kind": "stats", "layer": "bn", "running_var_min": 0.0, "running_var_max": 1e9, "nonfinite": 0}]
    found = m(bad)
    assert sorted(layer for layer, _ in found) == ["a", "a", "a", "bn", "bn"]
    text = " ".join(msg for _, msg in found)
    assert "collapsed" in text and "saturation" in text and "non-finite" in text and "near zero" in text
    assert m(bad) == []  # still bad: warned once, not at every probe
    assert m([ok]) == [] and len(m(bad)) == 3 + 2  # cleared, then bad again: warned again


def test_monitor_warns_on_a_planted_bad_layer(tiny_cfg, tmp_path, caplog):
    run = Run(tiny_cfg("probe.every=2"), tmp_path)
    planted = dict(run.model.named_modules())["blocks.0.norm2"]
    planted.alpha.requires_grad_(False)
    with torch.no_grad():
        planted.alpha.fill_(1e-6)  # alpha collapsed in this layer only
    with caplog.at_level(logging.WARNING):
        run.fit()
    warnings = read_probes(tmp_path / "probes.jsonl", kind="warning")
    assert [(w["step"], w["layer"]) for w in warnings] == [(0, "blocks.0.norm2")]  # the probe at init sees it
    assert "collapsed" in warnings[0]["message"]
    assert any("step 0" in r.getMessage() and "blocks.0.norm2" in r.getMessage() for r in caplog.records)
    assert read_summary(tmp_path / "summary.json")["status"] == "ok"


@pytest.mark.parametrize("override, message", [
    ("probe.every=0", "probe.every = 0 is not allowed: must be an integer >= 1"),
    ("probe.scurve_steps=[7]", "probe.scurve_steps = [7] is not allowed"),
    ("probe.scurve_steps=[-2]", "probe.scurve_steps = [-2] is not allowed"),
    ("probe.monitor.saturation=-1", "probe.monitor.saturation = -1.0 is not allowed: must be a number > 0"),
])
def test_bad_probe_values_fail_before_training(tiny_cfg, tmp_path, override, message):
    from normbench.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        train(tiny_cfg(override), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()
