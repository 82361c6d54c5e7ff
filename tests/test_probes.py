"""Probes against hand-written formulas, in a real run, and the health monitor on a planted bad layer."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from normbench.norms import build_norm
from normbench.models import build_model
from normbench.models.registry import models
from normbench.probes import HealthMonitor, NormProbe, branch_stats, layer_stats, pre_affine
from normbench.track import read_probes, read_summary
from normbench.train import train
from normbench.train.loop import Trainer


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
    branch = read_probes(tmp_path / "on" / "probes.jsonl", kind="branch")  # the block's two residual branches
    assert {(b["step"], b["layer"]) for b in branch} == {(st, la) for st in (0, 2, 4, 6)
                                                          for la in ("blocks.0.attn", "blocks.0.mlp")}
    assert all(b["branch_ratio"] == pytest.approx(b["branch_std"] / b["stream_std"]) for b in branch)
    curves = read_probes(tmp_path / "on" / "probes.jsonl", kind="scurve")
    assert {c["step"] for c in curves} == {0, 6} and {c["layer"] for c in curves} == set(layers)
    assert all(len(c["x"]) == 3 and len(c["x"][0]) == 5 for c in curves)


def test_tracker_names_probe_series_per_layer(tiny_cfg, tmp_path, monkeypatch):
    logged = {}
    from normbench.track import tracker

    monkeypatch.setattr(tracker.WandbRun, "log", lambda self, metrics, step: logged.update(metrics))
    train(tiny_cfg("probe.every=3"), tmp_path)
    assert {"probe/blocks.0.norm1/alpha", "probe/blocks.0.norm1/inv_std", "train/loss", "val/acc1"} <= set(logged)
    new = {f"probe/blocks.0.norm1/{k}" for k in ("token_std_mean", "inv_token_std", "token_std_q90", "alpha_grad",
                                                   "alpha_update", "alpha_cum_abs_update", "alpha_cum_lr",
                                                   "alpha_budget_used")}
    assert new <= set(logged)  # issue 24's probes reach the wandb history too
    assert {f"probe/blocks.0.{b}/{k}" for b in ("attn", "mlp") for k in ("stream_std", "branch_std", "branch_ratio")
            } <= set(logged)  # and each residual branch's


def _std(t: torch.Tensor) -> float:  # over all elements, with Bessel's correction
    t = t.double().flatten()
    return ((t - t.mean()) ** 2).sum().div(t.numel() - 1).sqrt().item()


def test_branch_stats_follow_the_formula():
    torch.manual_seed(0)
    stream, inc = torch.randn(3, 5, 8) * 4 + 1, torch.randn(3, 5, 8) * 0.5
    b = branch_stats(stream, inc)
    assert b["stream_std"] == pytest.approx(_std(stream), rel=1e-5)
    assert b["branch_std"] == pytest.approx(_std(inc), rel=1e-5)
    assert b["branch_ratio"] == pytest.approx(_std(inc) / _std(stream), rel=1e-5)
    inc[0, 0, 0] = float("inf")  # a non-finite element is left out, as in layer_stats
    assert branch_stats(stream, inc)["branch_std"] == pytest.approx(_std(inc.flatten()[1:]), rel=1e-5)


@pytest.mark.parametrize("norm", ["layernorm", "dyt"])
def test_vit_branch_lines_are_each_blocks_attention_and_mlp_increments(norm):
    torch.manual_seed(0)
    model = build_model({"name": "vit", "embed_dim": 16, "depth": 2, "num_heads": 2, "patch_size": 4},
                        {"name": norm}, num_classes=3, in_chans=1, img_size=8)
    x = torch.randn(4, 1, 8, 8)
    lines = NormProbe(model, x, branches=models()["vit"].branches(model))()
    got = {line["layer"]: line for line in lines if line["kind"] == "branch"}
    assert list(got) == ["blocks.0.attn", "blocks.0.mlp", "blocks.1.attn", "blocks.1.mlp"]
    model.eval()
    h = model.patch_embed(x)  # the stream by the block's formula: x + attn(norm1(x)), then + mlp(norm2(.))
    with torch.no_grad():
        h = model.norm_pre(model._pos_embed(h))
        for i, blk in enumerate(model.blocks):
            for kind, f in (("attn", lambda t: blk.attn(blk.norm1(t))), ("mlp", lambda t: blk.mlp(blk.norm2(t)))):
                inc = f(h)
                line = got[f"blocks.{i}.{kind}"]
                assert line["stream_std"] == pytest.approx(_std(h), rel=1e-4)
                assert line["branch_std"] == pytest.approx(_std(inc), rel=1e-4)
                h = h + inc
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules() if m is not model.patch_embed)


def test_convnext_branch_lines_are_each_blocks_output_minus_its_input():
    torch.manual_seed(0)
    model = build_model({"name": "convnext", "dims": [8, 16], "depths": [2, 1], "patch_size": 2,
                         "ls_init_value": 1.0}, {"name": "dyt"},  # 1e-6 would leave y - x below fp32 resolution
                        num_classes=3, in_chans=1, img_size=8)
    blocks = [(f"stages.{s}.blocks.{b}.mlp", blk)
              for s, stage in enumerate(model.stages) for b, blk in enumerate(stage.blocks)]
    seen = {}  # each block's input and output, by its own forward (shortcut: identity)
    handles = [blk.register_forward_hook(lambda m, a, out, n=name: seen.__setitem__(n, (a[0], out)))
               for name, blk in blocks]
    lines = NormProbe(model, torch.randn(4, 1, 8, 8), branches=models()["convnext"].branches(model))()
    for h in handles:
        h.remove()
    got = {line["layer"]: line for line in lines if line["kind"] == "branch"}
    assert list(got) == [name for name, _ in blocks] == ["stages.0.blocks.0.mlp", "stages.0.blocks.1.mlp",
                                                         "stages.1.blocks.0.mlp"]
    for name, (x, y) in seen.items():
        assert got[name]["stream_std"] == pytest.approx(_std(x), rel=1e-4)
        assert got[name]["branch_std"] == pytest.approx(_std(y - x), rel=1e-3)


@pytest.mark.parametrize("norm,normfree", [("batchnorm", None), ("dyt", None), ("identity", "skipinit"),
                                           ("identity", "fixup")])
def test_resnet_branch_lines_are_each_blocks_residual_increment(norm, normfree):
    from normbench.normfree.methods import apply_normfree

    torch.manual_seed(0)
    model = build_model({"name": "resnet", "layers": [1, 2, 1, 1], "channels": [8, 8, 16, 16], "stem_width": 8,
                         "zero_init_last": False}, {"name": norm}, num_classes=3, in_chans=1, img_size=8)
    if normfree is not None:
        model = apply_normfree(model, {"name": normfree, "gain_init": 0.5}, "resnet", norm)
        for p in model.parameters():  # Fixup zero-inits the last conv: move off init so the branch adds something
            p.data.add_(0.1 * torch.randn_like(p))
    blocks = [(f"{st}.{b}", blk) for st in ("layer1", "layer2", "layer3", "layer4")
              for b, blk in enumerate(getattr(model, st))]
    seen = {}
    handles = [blk.register_forward_pre_hook(lambda m, a, n=name: seen.__setitem__(n, a[0])) for name, blk in blocks]
    lines = NormProbe(model, torch.randn(4, 1, 8, 8), branches=models()["resnet"].branches(model))()
    for h in handles:
        h.remove()
    got = {line["layer"]: line for line in lines if line["kind"] == "branch"}
    assert list(got) == [name for name, _ in blocks] == ["layer1.0", "layer2.0", "layer2.1", "layer3.0", "layer4.0"]
    model.eval()
    with torch.no_grad():
        for name, blk in blocks:  # what each form's branch adds to the shortcut, by its formula
            x = seen[name]
            if normfree == "fixup":
                inc = blk.scale_bias2b(blk.conv2(blk.bias2a(blk.act1(blk.bias1b(blk.conv1(blk.bias1a(x)))))))
            else:  # the basic block: bn2(conv2(act1(bn1(conv1(x))))); after skipinit bn2 is (norm, gain)
                inc = blk.bn2(blk.conv2(blk.act1(blk.bn1(blk.conv1(x)))))
            assert got[name]["stream_std"] == pytest.approx(_std(x), rel=1e-4)
            assert got[name]["branch_std"] == pytest.approx(_std(inc), rel=1e-4)


def test_llama_branches_are_the_pre_norm_blocks_and_none_in_post_norm():
    spec = models()["llama"]
    size = {"vocab_size": 64, "context_length": 8}
    pre = build_model({"name": "llama", "embed_dim": 16, "depth": 2, "num_heads": 2}, {"name": "rmsnorm"}, **size)
    names = [name for name, _, _ in spec.branches(pre)]
    assert names == ["layers.0.attn", "layers.0.mlp", "layers.1.attn", "layers.1.mlp"]
    lines = NormProbe(pre, torch.randint(0, 64, (2, 8)), branches=spec.branches(pre))()
    assert [line["layer"] for line in lines if line["kind"] == "branch"] == names
    post = build_model({"name": "llama", "embed_dim": 16, "depth": 2, "num_heads": 2, "norm_position": "post"},
                       {"name": "rmsnorm"}, **size)
    assert spec.branches(post) == []


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


def test_monitor_warns_when_the_residual_stream_grows_past_its_threshold():
    m = HealthMonitor(stream_max=8.0)
    line = lambda std: {"kind": "branch", "layer": "blocks.3.attn", "stream_std": std, "branch_std": 1.0}  # noqa: E731
    assert m([line(7.9)]) == []
    (layer, message), = m([line(8.5)])
    assert layer == "blocks.3.attn" and "residual stream std = 8.5" in message and "past 8" in message
    assert m([line(30.0)]) == [] and m([line(2.0)]) == [] and len(m([line(9.0)])) == 1  # once, until it clears


def test_monitor_warns_on_a_planted_bad_layer(tiny_cfg, tmp_path, caplog):
    run = Trainer(tiny_cfg("probe.every=2"), tmp_path)
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


# -- per-token std, saturation at each squash's knee, alpha's optimiser state (issue 24) -------
@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_token_std_is_each_tokens_std_over_its_channels(layout):
    torch.manual_seed(2)
    scale = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0]).view(1, 5, 1, 1)  # tokens of very different spread
    x = torch.randn(2, 5, 3, 4) * (scale if layout == "channels_last" else 1.0) + 0.3
    c = 4 if layout == "channels_last" else 5
    s = layer_stats(build_norm("dyt", c, layout=layout), x)
    x64 = x.double()
    # a token: channels_last, the last dim at every other index; channels_first, the C channels at
    # one spatial position (h, w) of one image
    tokens = [x64[b, i, j, :] if layout == "channels_last" else x64[b, :, i, j]
              for b in range(2) for i in range(x.shape[1] if layout == "channels_last" else 3)
              for j in range(x.shape[2] if layout == "channels_last" else 4)]
    stds = [math.sqrt(sum((v - t.mean().item()) ** 2 for v in t.tolist()) / len(t)) for t in tokens]  # no Bessel
    mean = sum(stds) / len(stds)
    assert len(stds) == (2 * 5 * 3 if layout == "channels_last" else 2 * 3 * 4)
    assert s["token_std_mean"] == pytest.approx(mean, rel=1e-5)
    assert s["inv_token_std"] == pytest.approx(1 / mean, rel=1e-5)
    assert s["token_std_std"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in stds) / len(stds)), rel=1e-4)
    ordered = sorted(stds)
    for q, key in ((0.1, "token_std_q10"), (0.5, "token_std_q50"), (0.9, "token_std_q90")):
        pos = q * (len(ordered) - 1)  # linear interpolation between the two nearest order statistics
        lo, frac = int(pos), pos - int(pos)
        want = ordered[lo] + frac * (ordered[min(lo + 1, len(ordered) - 1)] - ordered[lo])
        assert s[key] == pytest.approx(want, rel=1e-5), key
    if layout == "channels_last":  # the spread of per-token stds is what the global std hides
        assert s["token_std_q90"] > 4 * s["token_std_q10"]


def test_token_std_leaves_out_tokens_with_a_non_finite_value():
    x = torch.tensor([[1.0, 3.0], [float("nan"), 1.0], [2.0, 2.0]])
    s = layer_stats(build_norm("layernorm", 2), x)
    assert s["token_std_mean"] == pytest.approx(0.5) and s["token_std_q10"] == pytest.approx(0.1)


# a squash's slope, written by hand; a point saturates where it is below f times the largest slope,
# f = tanh's slope at |u| = 2 (the old bound of every squash)
SLOPE_FRACTION = 1 / math.cosh(2.0) ** 2
SLOPES = {
    "tanh": (lambda u: 1 / math.cosh(u) ** 2, 1.0),
    "sigmoid": (lambda u: math.exp(-u) / (1 + math.exp(-u)) ** 2, 0.25),
    "hardtanh": (lambda u: 1.0 if abs(u) < 1 else 0.0, 1.0),
    "identity": (lambda u: 1.0, 1.0),
    "erf": (lambda u: 2 / math.sqrt(math.pi) * math.exp(-u * u), 2 / math.sqrt(math.pi)),
}


@pytest.mark.parametrize("squash, knee", [("tanh", 2.0), ("sigmoid", 4.0), ("hardtanh", 1.0), ("identity", None),
                                          ("erf", math.sqrt(-math.log(SLOPE_FRACTION)))])
def test_saturation_is_the_share_below_a_fraction_of_the_largest_slope(squash, knee):
    torch.manual_seed(3)
    slope, top = SLOPES[squash]
    norm = build_norm("derf", 8, alpha0=0.9, s0=0.4) if squash == "erf" else build_norm("dyt", 8, alpha0=0.9,
                                                                                           squash=squash)
    shift = 0.4 if squash == "erf" else 0.0
    x = torch.randn(64, 8) * 3
    s = layer_stats(norm, x, norm(x))
    args = [0.9 * v + shift for v in x.double().flatten().tolist()]  # what the squash sees
    want = sum(slope(u) < SLOPE_FRACTION * top for u in args) / len(args)
    assert s["squash"] == squash and s["saturation"] == pytest.approx(want, abs=1e-12)
    if knee is None:  # identity: the slope never falls
        assert s["saturation"] == 0.0 and s["saturation_knee"] is None
        return
    assert s["saturation_knee"] == pytest.approx(knee, rel=1e-12)
    assert 0.02 < s["saturation"] < 0.98  # the data straddle the knee: the test can tell knees apart
    if squash != "hardtanh":  # smooth: the slope at the knee is the fraction itself
        assert slope(knee) / top == pytest.approx(SLOPE_FRACTION, rel=1e-9)


def test_adaln_with_a_dyt_core_saturates_at_tanhs_knee():
    norm = build_norm("adaln", 6, core="dyt", alpha0=1.5)
    x = torch.randn(2, 5, 6) * 2
    s = layer_stats(norm, x)
    assert s["squash"] == "tanh" and s["saturation_knee"] == 2.0
    assert s["saturation"] == pytest.approx(((1.5 * x.double()).abs() > 2).double().mean().item())


def test_monitor_names_the_knee_of_the_line():
    line = {"kind": "stats", "layer": "a", "alpha": 0.5, "saturation": 0.9, "saturation_knee": 1.0, "nonfinite": 0}
    (layer, message), = HealthMonitor(saturation=0.5)([line])
    assert "|alpha * x| > 1 " in message
    old = {**line, "layer": "b"}
    del old["saturation_knee"]  # a line of a run before the per-squash knee: the bound was 2
    assert "|alpha * x| > 2 " in HealthMonitor(saturation=0.5)([old])[0][1]


def _adam_model():
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), build_norm("dyt", 6, alpha0=0.7), torch.nn.Linear(6, 6),
                                build_norm("dyt", 6, alpha0=0.3, learnable_alpha=False), torch.nn.Linear(6, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))  # an lr that moves
    return model, opt, sched


def test_alpha_optimiser_state_follows_adams_formula_by_hand():
    model, opt, sched = _adam_model()
    probe = NormProbe(model, torch.randn(8, 4), optimizer=opt)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    alpha = model[1].alpha
    m = v = 0.0
    updates, lrs, grads = [], [], []
    for t in range(1, 6):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        g, lr = alpha.grad.double().item(), opt.param_groups[0]["lr"]
        # Adam in float64: the bias-corrected moments
        m, v = 0.9 * m + 0.1 * g, 0.99 * v + 0.01 * g * g
        updates.append(-lr * (m / (1 - 0.9 ** t)) / (math.sqrt(v / (1 - 0.99 ** t)) + 1e-8))
        lrs.append(lr)
        grads.append(g)
        opt.step()
        sched.step()
    line = {s["layer"]: s for s in probe() if s["kind"] == "stats"}
    dyt, frozen = line["1"], line["3"]
    assert dyt["alpha_steps"] == 5 and dyt["alpha_grad"] == pytest.approx(grads[-1], rel=1e-6)
    assert dyt["alpha_lr"] == lrs[-1] and dyt["alpha_cum_lr"] == pytest.approx(sum(lrs), rel=1e-15)
    assert dyt["alpha_update"] == pytest.approx(updates[-1], abs=1e-7)  # alpha is fp32: one ulp is 6e-8
    assert dyt["alpha_cum_abs_update"] == pytest.approx(sum(map(abs, updates)), abs=5e-7)
    assert dyt["alpha_cum_update"] == pytest.approx(sum(updates), abs=5e-7)
    assert dyt["alpha_cum_update"] == pytest.approx(alpha.item() - 0.7, abs=1e-7)  # the net drift
    assert dyt["alpha_budget_used"] == pytest.approx(sum(map(abs, updates)) / sum(lrs), rel=1e-4)
    # the frozen alpha (a buffer) has no optimiser state: every key, null
    assert {k: frozen[k] for k in frozen if k.startswith("alpha_")} == {
        k: None for k in ("alpha_grad", "alpha_update", "alpha_lr", "alpha_cum_abs_update", "alpha_cum_update",
                          "alpha_cum_lr", "alpha_budget_used", "alpha_steps")}
    assert frozen["alpha"] == pytest.approx(0.3)


def test_alpha_optimiser_state_before_any_step_and_from_a_checkpoint_without_it():
    model, opt, sched = _adam_model()
    probe = NormProbe(model, torch.randn(8, 4), optimizer=opt)
    first = {s["layer"]: s for s in probe()}["1"]
    assert (first["alpha_grad"], first["alpha_update"], first["alpha_budget_used"]) == (None, None, None)
    assert (first["alpha_cum_abs_update"], first["alpha_cum_lr"], first["alpha_steps"]) == (0.0, 0.0, 0)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        sched.step()
    saved = opt.state_dict()
    assert saved["normbench_alpha"]["steps"] == 3  # the sums travel in the optimizer's state_dict
    # restored into a fresh probe and optimizer: the same sums
    model2, opt2, _ = _adam_model()
    model2.load_state_dict(model.state_dict())
    probe2 = NormProbe(model2, torch.randn(8, 4), optimizer=opt2)
    opt2.load_state_dict(saved)
    keys = ("alpha_update", "alpha_lr", "alpha_cum_abs_update", "alpha_cum_update", "alpha_cum_lr", "alpha_steps")
    before = {s["layer"]: s for s in probe()}["1"]
    after = {s["layer"]: s for s in probe2()}["1"]
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    assert "normbench_alpha" in saved and opt2.state_dict()["state"].keys() == saved["state"].keys()
    # a checkpoint without the sums (older, or probes off) loads; the sums count from there
    model3, opt3, _ = _adam_model()
    probe3 = NormProbe(model3, torch.randn(8, 4), optimizer=opt3)
    opt3.load_state_dict({k: v for k, v in saved.items() if k != "normbench_alpha"})
    assert {s["layer"]: s for s in probe3()}["1"]["alpha_steps"] == 0
    # an optimizer without a probe ignores the entry
    plain = torch.optim.AdamW(_adam_model()[0].parameters(), lr=0.01)
    plain.load_state_dict(saved)


def test_a_killed_and_resumed_run_continues_alphas_sums_exactly(tiny_cfg, tmp_path, monkeypatch):
    from conftest import at_batch, simulated_kill

    from normbench.train.classify import ClassifyTask

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(tiny_cfg("probe.every=1"), straight)
    undo = at_batch(monkeypatch, ClassifyTask, 5, simulated_kill)  # killed in step 5, after the step-3 checkpoint
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(tiny_cfg("probe.every=1"), killed)
    undo()
    train(tiny_cfg("probe.every=1", "trainer.resume=true"), killed)
    a, b = read_probes(straight / "probes.jsonl"), read_probes(killed / "probes.jsonl")
    last = {(s["step"], s["layer"]): s for s in b}  # steps 4 re-probed after the resume: the later line
    assert {(s["step"], s["layer"]) for s in a} == set(last)
    for s in a:
        assert s == last[(s["step"], s["layer"])], (s["step"], s["layer"])  # every number, the sums included
    assert all(s["alpha_steps"] == s["step"] for s in a)  # every step counted, not only probe steps
