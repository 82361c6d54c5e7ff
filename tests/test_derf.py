"""Derf, weight * erf(alpha * x + s) + bias, against its formula written by hand in float64.

erf comes from Python's math library element by element (not torch.erf, which the module
calls), and every gradient from d/du erf(u) = 2 / sqrt(pi) * exp(-u^2), derived by hand.
"""

import copy
import math
import pickle
import re

import pytest
import torch

from normbench.norms import Derf, NormConfigError, build_norm, build_norm_from_config, is_norm_layer
from normbench.probes import layer_stats, pre_affine

C = 6


def erf_and_derivative(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """erf(u) and d/du erf(u) = 2/sqrt(pi) exp(-u^2), float64, element by element with math."""
    flat = u.detach().double().flatten().tolist()
    erf = torch.tensor([math.erf(v) for v in flat], dtype=torch.float64).view(u.shape)
    d = torch.tensor([2 / math.sqrt(math.pi) * math.exp(-v * v) for v in flat], dtype=torch.float64).view(u.shape)
    return erf, d


def shapes(layout):
    return [(2, 5, C), (2, 3, 3, C)] if layout == "channels_last" else [(2, C, 5), (2, C, 3, 3)]


def view(v, x, layout):
    """A (C,) tensor viewed to broadcast along x's channel dim."""
    return v if layout == "channels_last" else v.view((C,) + (1,) * (x.ndim - 2))


def reduce_dims(x, layout):
    channel = x.ndim - 1 if layout == "channels_last" else 1
    return [d for d in range(x.ndim) if d != channel]


def randomized(layout, **kwargs):
    m = Derf(C, layout=layout, dtype=torch.float64, **kwargs)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        m.alpha.fill_(0.8)
        m.shift.fill_(-0.3)
        m.weight.copy_(torch.randn(C, generator=g, dtype=torch.float64))
        m.bias.copy_(torch.randn(C, generator=g, dtype=torch.float64))
    return m


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_forward_matches_the_formula(layout):
    torch.manual_seed(0)
    m = randomized(layout)
    assert m.norm_name == "derf" and m.layout == layout and is_norm_layer(m)
    for shape in shapes(layout):
        x = torch.randn(shape, dtype=torch.float64) * 2  # some |alpha x + s| > 2: the saturated tails
        want = view(m.weight, x, layout) * erf_and_derivative(0.8 * x - 0.3)[0] + view(m.bias, x, layout)
        torch.testing.assert_close(m(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_every_gradient_matches_the_hand_derived_one(layout):
    torch.manual_seed(0)
    m = randomized(layout)
    for shape in shapes(layout):
        m.zero_grad()
        x = (torch.randn(shape, dtype=torch.float64) * 2).requires_grad_()
        g = torch.randn(shape, dtype=torch.float64)  # dL/dy
        (m(x) * g).sum().backward()

        xd, w = x.detach(), view(m.weight.detach(), x, layout)
        erf, derf = erf_and_derivative(0.8 * xd - 0.3)  # u = alpha x + s
        # y = w erf(u) + b: dy/dx = w erf'(u) alpha, dy/dalpha = w erf'(u) x, dy/ds = w erf'(u)
        torch.testing.assert_close(x.grad, g * w * derf * 0.8)
        torch.testing.assert_close(m.alpha.grad, (g * w * derf * xd).sum().reshape(1))
        torch.testing.assert_close(m.shift.grad, (g * w * derf).sum().reshape(1))
        torch.testing.assert_close(m.weight.grad, (g * erf).sum(reduce_dims(x, layout)))
        torch.testing.assert_close(m.bias.grad, g.sum(reduce_dims(x, layout)))


def test_parameters_init_and_repr():
    m = build_norm("derf", C)
    assert set(dict(m.named_parameters())) == {"alpha", "shift", "weight", "bias"}
    assert m.alpha.shape == m.shift.shape == (1,)
    assert m.alpha.item() == pytest.approx(0.5) and m.shift.item() == 0.0  # the paper's alpha0 0.5, s0 0
    assert torch.equal(m.weight, torch.ones(C)) and torch.equal(m.bias, torch.zeros(C))
    m = build_norm("derf", C, alpha0=0.7, s0=-0.25, layout="channels_first")
    assert (m.alpha.item(), m.shift.item()) == (pytest.approx(0.7), -0.25)
    for part in ("6", "alpha0=0.7", "s0=-0.25", "layout=channels_first", "learnable_alpha=True"):
        assert part in repr(m)


def test_config_preset_builds_derf():
    from conftest import compose_cfg

    cfg = compose_cfg(["norm=derf", "norm.alpha0=0.6", "norm.s0=0.1"]).norm
    m = build_norm_from_config(cfg, C)
    assert isinstance(m, Derf) and m.alpha.item() == pytest.approx(0.6) and m.shift.item() == pytest.approx(0.1)


def test_frozen_alpha_is_a_buffer_and_the_shift_still_learns():
    m = build_norm("derf", C, learnable_alpha=False, alpha0=0.9)
    assert "alpha" not in dict(m.named_parameters()) and "alpha" in m.state_dict()
    assert m.state_dict()["alpha"].item() == pytest.approx(0.9)
    m(torch.randn(2, 3, C)).sum().backward()
    assert m.alpha.grad is None and not m.alpha.requires_grad
    assert m.shift.grad is not None and m.weight.grad is not None


def test_without_affine_or_bias():
    x = torch.randn(2, 3, C, dtype=torch.float64)
    m = build_norm("derf", C, affine=False, bias=False, alpha0=0.6, s0=0.2, dtype=torch.float64)
    assert m.weight is None and m.bias is None
    torch.testing.assert_close(m(x), erf_and_derivative(0.6 * x + 0.2)[0])
    m = build_norm("derf", C, bias=False, dtype=torch.float64)
    assert m.bias is None and m.weight is not None
    torch.testing.assert_close(m(x), erf_and_derivative(0.5 * x)[0])


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_bf16_keeps_the_dtype(layout):
    m = build_norm("derf", C, layout=layout, s0=0.1)  # fp32 parameters
    x = torch.randn(shapes(layout)[1])
    want = m(x)
    assert m(x.bfloat16()).dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x.bfloat16())
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), want, rtol=2e-2, atol=2e-2)
    y.float().sum().backward()
    assert m.alpha.grad.dtype == m.shift.grad.dtype == torch.float32


def test_pickles_and_deep_copies():
    m = randomized("channels_first").float()
    x = torch.randn(2, C, 3, 3)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        torch.testing.assert_close(clone(x), m(x))


def test_probes_record_alpha_shift_and_saturation_of_the_erf_argument():
    m = build_norm("derf", C, alpha0=0.7, s0=0.5)
    x = torch.randn(4, 5, C) * 3
    line = layer_stats(m, x, m(x))
    x64 = x.double()
    assert line["alpha"] == pytest.approx(0.7) and line["shift"] == pytest.approx(0.5)
    # saturated: erf's slope, 2/sqrt(pi) exp(-u^2), below tanh's at |u| = 2 (sech^2 2) times its largest
    u = 0.7 * x64 + 0.5
    assert line["saturation"] == pytest.approx((torch.exp(-u * u) < 1 / math.cosh(2.0) ** 2).double().mean().item())
    torch.testing.assert_close(pre_affine(m, x).double(), erf_and_derivative(0.7 * x64 + 0.5)[0].reshape(-1, C),
                               rtol=1e-5, atol=1e-6)
    assert "shift" not in layer_stats(build_norm("dyt", C), x)  # DyT has no shift


@pytest.mark.parametrize("kwargs,message", [
    ({"alpha0": 0.0}, "norm.alpha0 = 0.0 is not allowed: must be a number > 0"),
    ({"alpha0": -0.5}, "norm.alpha0 = -0.5 is not allowed: must be a number > 0"),
    ({"s0": float("nan")}, "norm.s0 = nan is not allowed: must be a finite number"),
    ({"s0": "0.1"}, "norm.s0 = '0.1' is not allowed: must be a finite number"),
    ({"learnable_alpha": "no"}, "norm.learnable_alpha = 'no' is not allowed: must be a bool"),
    ({"layout": "nchw"}, "layout = 'nchw' is unknown; allowed: channels_last, channels_first"),
])
def test_bad_input_is_a_named_error(kwargs, message):
    with pytest.raises(NormConfigError, match="^" + re.escape(message)):
        build_norm("derf", C, **kwargs)
    with pytest.raises(NormConfigError, match="^" + re.escape(message)):
        Derf(C, **kwargs)
