"""Tests of normbench.norms: every layer against its written formula.

References are written by hand with plain tensor ops (never by calling the
module again), for forward and gradients, in both layouts where supported.
"""

import copy
import pickle
import re
from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from normbench.norms import (
    conditional_norm_names,
    norm_names,
    DyT,
    NormConfigError,
    NormLayer,
    RMSNorm,
    build_norm,
    build_norm_from_config,
    is_norm_layer,
    norm_factory,
    supported_layouts,
)

C = 8  # channels; divisible by the 4 groups used for groupnorm
OPTS = {"num_groups": 4, "alpha0": 0.8}
EPS = {"layernorm": 1e-6, "rmsnorm": 1e-6, "batchnorm": 1e-5, "groupnorm": 1e-5, "instancenorm": 1e-5}
# the conditional norms (forward(x, c): adaln, adaln_zero) have their own file, tests/test_adaln.py
CASES = [(name, layout) for name in norm_names() if name not in conditional_norm_names()
         for layout in supported_layouts(name)]
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "norm"


def shapes(layout):
    # 3-D tokens / sequences and 4-D maps
    return [(2, 5, C), (2, 3, 3, C)] if layout == "channels_last" else [(2, C, 5), (2, C, 3, 3)]


def channel_dim(layout):
    return -1 if layout == "channels_last" else 1


def per_channel(v, x, layout):
    """v of shape (C,) viewed to broadcast against x along its channel dim."""
    return v if layout == "channels_last" else v.view((C,) + (1,) * (x.ndim - 2))


def randomize(m):
    """Non-trivial parameters, so ones/zeros cannot hide a bug in weight or bias."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name == "alpha":
                p.copy_(0.5 + torch.rand(p.shape, generator=g, dtype=p.dtype))
            else:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m


# ---- hand-written references ----------------------------------------------------------


def ref_layernorm(x, w, b, eps, dim):
    mu = x.mean(dim, keepdim=True)
    var = ((x - mu) ** 2).mean(dim, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def ref_rmsnorm(x, w, eps, dim):
    return x / torch.sqrt((x**2).mean(dim, keepdim=True) + eps) * w


def squash_and_derivative(name, z):
    if name == "tanh":
        t = (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))
        return t, 1 - t**2
    if name == "hardtanh":
        return z.clamp(-1, 1), (z.abs() < 1).to(z.dtype)
    if name == "sigmoid":
        s = 1 / (1 + torch.exp(-z))
        return s, s * (1 - s)
    return z, torch.ones_like(z)


def ref_dyt(x, alpha, w, b, squash):
    return w * squash_and_derivative(squash, alpha * x)[0] + b


def ref_batchnorm_train(x, w, b, eps):
    """channels_first x; returns output, batch mean, unbiased batch var."""
    dims = [d for d in range(x.ndim) if d != 1]
    n = x.numel() // x.shape[1]
    shape = (1, C) + (1,) * (x.ndim - 2)
    mu = x.mean(dims)
    var = ((x - mu.view(shape)) ** 2).sum(dims) / n
    y = (x - mu.view(shape)) / torch.sqrt(var.view(shape) + eps) * w.view(shape) + b.view(shape)
    return y, mu, var * n / (n - 1)


def ref_groupnorm(x, groups, w, b, eps):
    xg = x.reshape(x.shape[0], groups, -1)  # channels of a group and spatial dims together
    mu = xg.mean(-1, keepdim=True)
    var = ((xg - mu) ** 2).mean(-1, keepdim=True)
    y = ((xg - mu) / torch.sqrt(var + eps)).reshape(x.shape)
    return per_channel(w, x, "channels_first") * y + per_channel(b, x, "channels_first")


def reference(m, x, layout):
    """The written formula of m's norm (built with OPTS), on x in m's layout."""
    d, eps = channel_dim(layout), EPS.get(m.norm_name)
    p = dict(m.named_parameters())
    w, b = p.get("weight"), p.get("bias")
    if m.norm_name == "identity":
        return x.clone()
    if m.norm_name == "dyt":
        return ref_dyt(x, m.alpha, per_channel(w, x, layout), per_channel(b, x, layout), "tanh")
    if m.norm_name == "derf":  # its own hand-written formula and gradients: tests/test_derf.py
        from test_derf import erf_and_derivative

        return per_channel(w, x, layout) * erf_and_derivative(m.alpha * x + m.shift)[0] + per_channel(b, x, layout)
    if m.norm_name == "layernorm":
        return ref_layernorm(x, per_channel(w, x, layout), per_channel(b, x, layout), eps, d)
    if m.norm_name == "rmsnorm":
        return ref_rmsnorm(x, per_channel(w, x, layout), eps, d)
    if m.norm_name == "batchnorm":
        xf = x if layout == "channels_first" else x.movedim(-1, 1)
        y = ref_batchnorm_train(xf, w, b, eps)[0]
        return y if layout == "channels_first" else y.movedim(1, -1)
    groups = C if m.norm_name == "instancenorm" else OPTS["num_groups"]
    return ref_groupnorm(x, groups, w, b, eps)


# ---- forward and gradients of every layer ---------------------------------------------


@pytest.mark.parametrize("name,layout", CASES)
def test_forward_matches_written_formula(name, layout):
    torch.manual_seed(0)
    m = randomize(build_norm(name, C, layout=layout, dtype=torch.float64, **OPTS))
    assert is_norm_layer(m) and isinstance(m, NormLayer)
    assert m.norm_name == name and m.layout == layout
    for shape in shapes(layout):
        for scale in (2.0, 1e-3):  # at 1e-3 the variance is near eps, so a wrong eps shows
            x = torch.randn(shape, dtype=torch.float64) * scale + 0.5 * scale
            torch.testing.assert_close(m(x), reference(m, x, layout), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in norm_names() if len(supported_layouts(n)) == 2])
def test_channels_first_equals_channels_last_on_permuted_input(name):
    torch.manual_seed(0)
    cl = randomize(build_norm(name, C, layout="channels_last", **OPTS))
    cf = build_norm(name, C, layout="channels_first", **OPTS)
    cf.load_state_dict(cl.state_dict())
    for shape in shapes("channels_first"):
        x = torch.randn(shape)
        torch.testing.assert_close(cf(x), cl(x.movedim(1, -1)).movedim(-1, 1))


@pytest.mark.parametrize("name,layout", CASES)
def test_gradcheck_float64(name, layout):
    torch.manual_seed(0)
    m = randomize(build_norm(name, C, layout=layout, dtype=torch.float64, **OPTS))
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in m.named_parameters()]

    def f(x, *ps):
        return functional_call(m, dict(zip(names, ps)), (x,))

    for shape in shapes(layout):
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("squash", ["tanh", "hardtanh", "sigmoid", "identity"])
@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_dyt_hand_derived_gradients(squash, layout):
    torch.manual_seed(0)
    m = randomize(DyT(C, alpha0=0.8, squash=squash, layout=layout, dtype=torch.float64))
    for shape in shapes(layout):
        m.zero_grad()
        x = (torch.randn(shape, dtype=torch.float64) * 2).requires_grad_()  # some |alpha x| > 1
        g = torch.randn(shape, dtype=torch.float64)
        (m(x) * g).sum().backward()

        alpha = m.alpha.detach()
        w = per_channel(m.weight.detach(), x, layout)
        f, df = squash_and_derivative(squash, alpha * x.detach())
        reduce = [d for d in range(x.ndim) if d != (x.ndim - 1 if layout == "channels_last" else 1)]
        torch.testing.assert_close(x.grad, g * w * alpha * df)
        torch.testing.assert_close(m.alpha.grad, (g * w * x.detach() * df).sum().reshape(1))
        torch.testing.assert_close(m.weight.grad, (g * f).sum(reduce))
        torch.testing.assert_close(m.bias.grad, g.sum(reduce))


# ---- DyT ------------------------------------------------------------------------------


def test_dyt_parameters_and_init():
    m = DyT(C, alpha0=0.7)
    assert m.alpha.shape == (1,) and m.alpha.item() == pytest.approx(0.7) and m.alpha0 == 0.7
    assert torch.equal(m.weight, torch.ones(C)) and torch.equal(m.bias, torch.zeros(C))
    assert set(dict(m.named_parameters())) == {"alpha", "weight", "bias"}
    r = repr(m)
    for part in ("8", "alpha0=0.7", "squash=tanh", "layout=channels_last", "learnable_alpha=True"):
        assert part in r


def test_dyt_without_affine_or_bias():
    x = torch.randn(2, 3, C)
    m = build_norm("dyt", C, affine=False, bias=False, alpha0=0.6)
    assert m.weight is None and m.bias is None
    torch.testing.assert_close(m(x), torch.tanh(0.6 * x))
    m = build_norm("dyt", C, bias=False, alpha0=0.6)
    assert m.bias is None and m.weight is not None
    torch.testing.assert_close(m(x), torch.tanh(0.6 * x))


def test_frozen_alpha_is_a_buffer():
    m = build_norm("dyt", C, learnable_alpha=False, alpha0=0.9)
    assert "alpha" not in dict(m.named_parameters())
    assert "alpha" in dict(m.named_buffers()) and "alpha" in m.state_dict()
    assert m.state_dict()["alpha"].item() == pytest.approx(0.9)
    m(torch.randn(2, 3, C)).sum().backward()
    assert m.alpha.grad is None and not m.alpha.requires_grad
    assert m.weight.grad is not None


def test_dyt_pickles_and_deep_copies():
    m = randomize(DyT(C, squash="hardtanh", layout="channels_first"))
    x = torch.randn(2, C, 3, 3)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        torch.testing.assert_close(clone(x), m(x))


# ---- RMSNorm and BatchNorm ------------------------------------------------------------


def test_rmsnorm_does_not_subtract_the_mean():
    x = torch.randn(2, 4, C) + 10.0
    rms = randomize(RMSNorm(C))
    ln = build_norm("layernorm", C)
    with torch.no_grad():
        ln.weight.copy_(rms.weight)
    torch.testing.assert_close(rms(x), x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * rms.weight)
    assert (rms(x) - ln(x)).abs().max() > 0.5
    assert getattr(build_norm("rmsnorm", C, bias=True), "bias", None) is None  # RMSNorm has no bias


@pytest.mark.parametrize("shape", [(6, C), (4, C, 5), (3, C, 3, 3)])
def test_batchnorm_running_stats_and_eval(shape):
    torch.manual_seed(0)
    m = randomize(build_norm("batchnorm", C, layout="channels_first", momentum=0.1))
    x = torch.randn(shape) * 3 + 1
    _, mu, var_unbiased = ref_batchnorm_train(x, m.weight, m.bias, m.eps)
    m.train()
    m(x)
    torch.testing.assert_close(m.running_mean, 0.1 * mu)
    torch.testing.assert_close(m.running_var, 0.9 * 1 + 0.1 * var_unbiased)

    m.eval()
    x1 = torch.randn((1,) + shape[1:])  # batch size 1 works in eval
    view = (1, C) + (1,) * (x1.ndim - 2)
    want = (x1 - m.running_mean.view(view)) / torch.sqrt(m.running_var.view(view) + m.eps)
    want = want * m.weight.view(view) + m.bias.view(view)
    torch.testing.assert_close(m(x1), want)


def test_batchnorm_channels_last_matches_permuted_including_running_stats():
    torch.manual_seed(0)
    cl = randomize(build_norm("batchnorm", C, layout="channels_last"))
    cf = build_norm("batchnorm", C, layout="channels_first")
    cf.load_state_dict(cl.state_dict())
    x = torch.randn(3, C, 4, 4)
    torch.testing.assert_close(cl(x.movedim(1, -1)).movedim(-1, 1), cf(x))
    torch.testing.assert_close(cl.running_mean, cf.running_mean)
    torch.testing.assert_close(cl.running_var, cf.running_var)
    cl.eval()
    cf.eval()
    torch.testing.assert_close(cl(x.movedim(1, -1)).movedim(-1, 1), cf(x))


def test_batchnorm_is_a_torch_batchnorm():
    from torch.nn.modules.batchnorm import _BatchNorm

    assert isinstance(build_norm("batchnorm", C), _BatchNorm)
    assert isinstance(build_norm("identity", C), torch.nn.Identity)


# ---- options, device/dtype, timm ------------------------------------------------------


@pytest.mark.parametrize("name,layout", CASES)
def test_dtype_pass_through(name, layout):
    m = build_norm(name, C, layout=layout, dtype=torch.float64, device="cpu", **OPTS)
    assert all(t.dtype == torch.float64 for t in m.parameters())
    assert all(t.dtype == torch.float64 for n, t in m.named_buffers() if n != "num_batches_tracked")


def test_eps_defaults_and_override():
    assert build_norm("layernorm", C).eps == 1e-6
    assert build_norm("rmsnorm", C).eps == 1e-6
    assert build_norm("batchnorm", C).eps == 1e-5
    assert build_norm("groupnorm", C, layout="channels_first", num_groups=4).eps == 1e-5
    assert build_norm("instancenorm", C, layout="channels_first").eps == 1e-5
    assert build_norm("layernorm", C, eps=1e-3).eps == 1e-3


def test_norm_factory_eps_precedence():
    assert norm_factory("layernorm")(C, eps=1e-3).eps == 1e-3  # the model's eps when config has none
    assert norm_factory("layernorm", eps=1e-5)(C, eps=1e-3).eps == 1e-5  # the config's eps wins


def test_norm_factory_in_timm_vit():
    from timm.models.vision_transformer import VisionTransformer

    model = VisionTransformer(img_size=8, patch_size=4, embed_dim=16, depth=1, num_heads=2, num_classes=3,
                              norm_layer=norm_factory("dyt", alpha0=0.7))
    norms = [m for m in model.modules() if is_norm_layer(m)]
    assert len(norms) >= 3 and all(isinstance(m, DyT) for m in norms)
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    assert all(m.alpha.item() == pytest.approx(0.7) for m in norms)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert all(m.alpha.grad is not None for m in norms if m.weight.grad is not None)


def test_norm_factory_pickles():
    f = pickle.loads(pickle.dumps(norm_factory("rmsnorm", eps=1e-4)))
    assert isinstance(f(C), RMSNorm) and f(C).eps == 1e-4


@pytest.mark.parametrize("path", sorted(p for p in CONFIG_DIR.glob("*.yaml") if not p.name.startswith("_")))
def test_every_norm_config_builds(path):
    from conftest import compose_cfg  # the preset on its schema node (normbench/config), as Hydra composes it

    cfg = compose_cfg([f"norm={path.stem}"]).norm
    layout = supported_layouts(cfg.name)[-1]
    m = build_norm_from_config(cfg, 32, layout=layout)
    assert is_norm_layer(m) and m.norm_name in (path.stem, path.stem.split("_")[0])  # dyt_noalpha: a preset of dyt


@pytest.mark.parametrize("name,layout", CASES)
def test_is_norm_layer_everywhere(name, layout):
    assert is_norm_layer(build_norm(name, C, layout=layout, **OPTS))
    assert not is_norm_layer(torch.nn.LayerNorm(C))


# ---- errors ---------------------------------------------------------------------------

ERRORS = [
    (dict(name="layernorm", alpha0=-1.0), "norm.alpha0 = -1.0 is not allowed: must be a number > 0"),
    (dict(name="foo"), "norm.name = 'foo' is unknown; allowed: adaln, adaln_zero, batchnorm, derf, dyt, "
                       "groupnorm, identity, instancenorm, layernorm, rmsnorm"),
    (dict(name="dyt", squash="relu"), "norm.squash = 'relu' is unknown; allowed: tanh, hardtanh, sigmoid, identity"),
    (dict(name="groupnorm", layout="channels_first", num_features=64, num_groups=5),
     "norm.num_groups = 5 does not divide the 64 channels; allowed here: 1, 2, 4, 8, 16, 32, 64"),
    (dict(name="groupnorm"), "norm=groupnorm needs layout channels_first (feature maps with spatial dims); "
                             "this place has channels_last"),
    (dict(name="instancenorm"), "norm=instancenorm needs layout channels_first"),
    (dict(name="dyt", layout="x"), "layout = 'x' is unknown; allowed: channels_last, channels_first"),
    (dict(name="dyt", learnable_alpha="false"), "norm.learnable_alpha = 'false' is not allowed: must be a bool"),
    (dict(name="layernorm", affine=1), "norm.affine = 1 is not allowed: must be a bool"),
    (dict(name="dyt", alpha0=True), "norm.alpha0 = True is not allowed: must be a number > 0"),
    (dict(name="dyt", impl="triton"), "norm.impl = 'triton' is unknown; allowed: auto, eager, fused, compiled"),
    (dict(name="layernorm", eps=0.0), "norm.eps = 0.0 is not allowed: must be a number > 0"),
    (dict(name="batchnorm", momentum=1.5), "norm.momentum = 1.5 is not allowed: must be a number in (0, 1]"),
    (dict(name="rmsnorm", num_groups=0), "norm.num_groups = 0 is not allowed: must be an int >= 1"),
    (dict(name="dyt", alpha=0.5), "norm.alpha = 0.5 is not a known option; allowed: alpha0, squash"),
    (dict(name="dyt", dtype=torch.int64), "norm.dtype = torch.int64 is not allowed"),
]


@pytest.mark.parametrize("kwargs,message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_build_norm_errors(kwargs, message):
    kwargs = dict(kwargs)
    name, num_features = kwargs.pop("name"), kwargs.pop("num_features", C)
    with pytest.raises(NormConfigError, match=re.escape(message)):
        build_norm(name, num_features, **kwargs)
    if "num_features" not in kwargs and "does not divide" not in message:
        with pytest.raises(NormConfigError, match=re.escape(message)):  # the factory fails before a model exists
            norm_factory(name, **kwargs)


def test_other_errors():
    assert issubclass(NormConfigError, ValueError)
    with pytest.raises(NormConfigError, match=re.escape("norm.name = 'foo' is unknown")):
        supported_layouts("foo")
    with pytest.raises(NormConfigError, match=re.escape("norm.squash = 'relu' is unknown")):
        DyT(C, squash="relu")
    with pytest.raises(NormConfigError, match=re.escape("norm.name is missing")):
        build_norm_from_config({"alpha0": 0.5}, C)
    with pytest.raises(NormConfigError, match=re.escape("num_features = 0 is not allowed")):
        build_norm("dyt", 0)


def test_supported_layouts():
    both = ("channels_last", "channels_first")
    for name in ("layernorm", "rmsnorm", "dyt", "derf", "identity", "batchnorm"):
        assert supported_layouts(name) == both
    for name in ("groupnorm", "instancenorm"):
        assert supported_layouts(name) == ("channels_first",)
    assert norm_names() == tuple(sorted(norm_names())) and len(norm_names()) == 10
    assert supported_layouts("adaln") == supported_layouts("adaln_zero") == ("channels_last",)
