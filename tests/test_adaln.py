"""The conditional norms adaln and adaln_zero (normbench/norms/adaln.py) against their written formulas.

The references are written by hand in float64 (never by calling the module again): the
forward of both cores, and the gradients of every input and parameter derived by hand
(LayerNorm's and tanh's backward, the modulation's chain rule through SiLU). Then the
inits (zero_init on and off), the errors, and the probes on a norm whose forward takes (x, c).
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from normbench.norms import (conditional_norm_names, norm_names, AdaLN, AdaLNZero, NormConfigError,
                             build_conditional_norm, build_norm, is_norm_layer)
from normbench.probes import NormProbe

D, COND, B, N = 6, 5, 3, 4
EPS = 1e-6
CASES = [(name, core) for name in ("adaln", "adaln_zero") for core in ("layernorm", "dyt")]


def randomize(m):
    """Non-trivial parameters, so zeros cannot hide a bug (alpha in [0.5, 1.5))."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(0.5 + torch.rand(p.shape, generator=g, dtype=p.dtype) if name == "alpha"
                    else torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m


def make(name, core, **opts):
    return randomize(build_conditional_norm(name, D, cond_dim=COND, core=core, alpha0=0.7, dtype=torch.float64,
                                            **opts))


# ---- hand-written references ----------------------------------------------------------


def sigmoid(z):
    return 1 / (1 + torch.exp(-z))


def silu_and_derivative(z):
    s = sigmoid(z)
    return z * s, s * (1 + z * (1 - s))


def tanh(z):
    return (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))


def core_forward(core, x, alpha):
    """n(x) and what its backward needs."""
    if core == "dyt":
        return tanh(alpha * x)
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + EPS)


def core_backward(core, x, alpha, n, gn):
    """(dL/dx, dL/dalpha) from dL/dn = gn, written by hand."""
    if core == "dyt":
        return gn * alpha * (1 - n**2), (gn * x * (1 - n**2)).sum().reshape(1)
    var = ((x - x.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True)
    inv = 1 / torch.sqrt(var + EPS)
    gx = inv * (gn - gn.mean(-1, keepdim=True) - n * (gn * n).mean(-1, keepdim=True))
    return gx, None


def reference(m, x, c):
    """y = n(x) * (1 + scale) + shift; gate = Wg silu(c) + bg (or None), from the parameters."""
    alpha = m.alpha if m.core == "dyt" else None
    sc, _ = silu_and_derivative(c)
    mod = sc @ m.modulation.weight.T + m.modulation.bias  # (B, 2D): shift, then scale
    shift, scale = mod[:, :D, None].transpose(1, 2), mod[:, D:, None].transpose(1, 2)  # (B, 1, D)
    y = core_forward(m.core, x, alpha) * (1 + scale) + shift
    gate = None if m.gate_proj is None else (sc @ m.gate_proj.weight.T + m.gate_proj.bias)[:, None, :]
    return y, gate


def reference_grads(m, x, c, gy, gg):
    """Every gradient of L = sum(gy * y) + sum(gg * gate), derived by hand."""
    alpha = m.alpha if m.core == "dyt" else None
    sc, dsilu = silu_and_derivative(c)
    W, b = m.modulation.weight, m.modulation.bias
    mod = sc @ W.T + b
    scale = mod[:, D:][:, None, :]
    n = core_forward(m.core, x, alpha)
    gshift = gy.sum(1)  # (B, D): the shift broadcasts over the N tokens
    gscale = (gy * n).sum(1)
    gmod = torch.cat([gshift, gscale], dim=-1)  # (B, 2D)
    gx, galpha = core_backward(m.core, x, alpha, n, gy * (1 + scale))
    grads = {"x": gx, "modulation.weight": gmod.T @ sc, "modulation.bias": gmod.sum(0)}
    gsc = gmod @ W  # dL/dsilu(c) through the modulation
    if m.gate_proj is not None:
        gg2 = gg[:, 0, :]  # (B, D)
        grads["gate_proj.weight"] = gg2.T @ sc
        grads["gate_proj.bias"] = gg2.sum(0)
        gsc = gsc + gg2 @ m.gate_proj.weight
    grads["c"] = gsc * dsilu
    if galpha is not None:
        grads["alpha"] = galpha
    return grads


# ---- forward and gradients ------------------------------------------------------------


@pytest.mark.parametrize("name,core", CASES)
def test_forward_matches_written_formula(name, core):
    m = make(name, core)
    assert is_norm_layer(m) and m.norm_name == name and m.conditional and m.layout == "channels_last"
    for scale in (2.0, 1e-3):  # at 1e-3 the variance is near eps, so a wrong eps shows
        x = torch.randn(B, N, D, dtype=torch.float64) * scale + 0.5 * scale
        c = torch.randn(B, COND, dtype=torch.float64)
        y, gate = reference(m, x, c)
        torch.testing.assert_close(m(x, c), y, rtol=1e-12, atol=1e-12)
        if name == "adaln_zero":
            torch.testing.assert_close(m.gate(c), gate, rtol=1e-12, atol=1e-12)
        else:
            assert m.gate(c) is None and gate is None


@pytest.mark.parametrize("zero_init", [True, False])
@pytest.mark.parametrize("name,core", CASES)
def test_gradients_match_hand_derived_formulas(name, core, zero_init):
    m = build_conditional_norm(name, D, cond_dim=COND, core=core, alpha0=0.7, zero_init=zero_init,
                               dtype=torch.float64)
    if not zero_init:
        randomize(m)
    x = torch.randn(B, N, D, dtype=torch.float64, requires_grad=True)
    c = torch.randn(B, COND, dtype=torch.float64, requires_grad=True)
    gy, gg = torch.randn(B, N, D, dtype=torch.float64), torch.randn(B, 1, D, dtype=torch.float64)
    loss = (gy * m(x, c)).sum()
    if m.gated:
        loss = loss + (gg * m.gate(c)).sum()
    loss.backward()
    with torch.no_grad():
        want = reference_grads(m, x, c, gy, gg)
    got = {"x": x.grad, "c": c.grad, **{k: p.grad for k, p in m.named_parameters()}}
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-10, atol=1e-10, msg=key)
    assert torch.autograd.gradcheck(lambda x, c: m(x, c), (x.detach().requires_grad_(), c.detach().requires_grad_()))


# ---- init -----------------------------------------------------------------------------


@pytest.mark.parametrize("name,core", CASES)
def test_zero_init_starts_at_the_plain_core_and_a_closed_gate(name, core):
    m = build_conditional_norm(name, D, cond_dim=COND, core=core, alpha0=0.7, zero_init=True, dtype=torch.float64)
    x, c = torch.randn(B, N, D, dtype=torch.float64), torch.randn(B, COND, dtype=torch.float64)
    n = core_forward(core, x, torch.tensor([0.7], dtype=torch.float64))
    assert torch.equal(m(x, c), m.normalize(x)) and torch.allclose(m(x, c), n, rtol=1e-12, atol=1e-12)
    if name == "adaln_zero":
        assert torch.equal(m.gate(c), torch.zeros(B, 1, D, dtype=torch.float64))
    if core == "dyt":
        assert m.alpha.item() == 0.7 and isinstance(m.alpha, nn.Parameter)


@pytest.mark.parametrize("name", ["adaln", "adaln_zero"])
def test_without_zero_init_the_modulation_is_xavier_with_zero_bias(name):
    torch.manual_seed(0)
    m = build_norm(name, 64, zero_init=False)
    bound = math.sqrt(6 / (64 + 128))  # xavier-uniform of the (64 -> 2 * 64) modulation
    w = m.modulation.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound and w.std() > 0.5 * bound / math.sqrt(3)
    assert torch.equal(m.modulation.bias, torch.zeros(128))
    if name == "adaln_zero":
        assert m.gate_proj.weight.abs().max() > 0 and torch.equal(m.gate_proj.bias, torch.zeros(64))


def test_presets_and_defaults():
    from conftest import compose_cfg

    zero, plain = compose_cfg(["norm=adaln_zero"]).norm, compose_cfg(["norm=adaln"]).norm
    assert (zero.name, zero.zero_init, zero.core) == ("adaln_zero", True, "layernorm")
    assert (plain.name, plain.zero_init, plain.core) == ("adaln", False, "layernorm")
    m = build_norm("adaln_zero", 8)  # build_norm: cond_dim = num_features, the class's gate
    assert m.cond_dim == 8 and m.gated and isinstance(m, AdaLNZero) and m.alpha is None
    final = build_conditional_norm("adaln_zero", 8, gated=False)  # DiT's final norm: nothing to gate
    assert final.gate_proj is None and final.gate(torch.zeros(2, 8)) is None
    assert not build_norm("adaln", 8).gated and isinstance(build_norm("adaln", 8), AdaLN)
    frozen = build_norm("adaln", 8, core="dyt", learnable_alpha=False)
    assert "alpha" in dict(frozen.named_buffers()) and "alpha" not in dict(frozen.named_parameters())
    assert conditional_norm_names() == ("adaln", "adaln_zero") and set(conditional_norm_names()) <= set(norm_names())


@pytest.mark.parametrize("options, message", [
    (dict(core="rms"), "norm.core = 'rms' is unknown; allowed: layernorm, dyt"),
    (dict(zero_init="yes"), "norm.zero_init = 'yes' is not allowed: must be a bool (true or false)"),
    (dict(layout="channels_first"), "norm=adaln needs layout channels_last; this place has channels_first"),
])
def test_bad_options_are_named_errors(options, message):
    with pytest.raises(NormConfigError, match=re.escape(message)):
        build_norm("adaln", 8, **options)


def test_a_plain_norm_is_not_a_conditional_norm():
    with pytest.raises(NormConfigError, match=re.escape("norm.name = 'layernorm' takes no conditioning vector; "
                                                        "allowed here: adaln, adaln_zero")):
        build_conditional_norm("layernorm", 8)


# ---- probes ---------------------------------------------------------------------------


class TwoInputs(nn.Module):
    def __init__(self, core):
        super().__init__()
        self.norm = build_norm("adaln_zero", D, core=core, alpha0=0.7, zero_init=False)

    def forward(self, x, c):
        return self.norm(x, c)


@pytest.mark.parametrize("core", ["layernorm", "dyt"])
def test_probes_read_a_norm_whose_forward_takes_x_and_c(core):
    torch.manual_seed(0)
    x, c = torch.randn(B, N, D) * 3, torch.randn(B, D)
    lines = NormProbe(TwoInputs(core), (x, c))(scurve=True)
    stats = [e for e in lines if e["kind"] == "stats"]
    assert [e["layer"] for e in stats] == ["norm"] and stats[0]["norm"] == "adaln_zero"
    assert stats[0]["input_std"] == pytest.approx(x.std().item(), rel=1e-5)  # x, not c
    if core == "dyt":
        assert stats[0]["alpha"] == pytest.approx(0.7)
        assert stats[0]["saturation"] == pytest.approx(((0.7 * x).abs() > 2).float().mean().item())
    else:
        assert "alpha" not in stats[0]
    (scurve,) = [e for e in lines if e["kind"] == "scurve"]
    n = core_forward(core, x.double(), torch.tensor([0.7], dtype=torch.float64)).flatten()
    for value in sum(scurve["y"], []):  # every sampled output before the modulation is one of n(x)'s values
        assert (n - value).abs().min() < 1e-4
