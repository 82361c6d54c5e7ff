"""normbench.normfree: each method against its published rule, written out here by hand.

Fixup (Zhang et al. 2019), SkipInit (De and Smith 2020), sigmaReparam (Zhai et al. 2023):
which tensors start at zero, the depth-scaling factors, the scalar biases in their places,
sigma against torch.linalg.matrix_norm, the first forward of sigmaReparam against the stock
model, and the config errors. Training and exact resume are in test_train.py.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from normbench.errors import InputError
from normbench.models import build_model
from normbench.normfree import (
    FixupBasicBlock,
    FixupBottleneck,
    Gain,
    NormFreeConfigError,
    ScaleShift,
    Shift,
    SigmaReparam,
    apply_normfree,
    branch_scale,
    check_normfree,
    reparameterised,
)
from normbench.train import train

SIZES = {"num_classes": 10, "in_chans": 1, "img_size": 28}
VIT = {"name": "vit", "patch_size": 7, "embed_dim": 32, "depth": 3, "num_heads": 2}
RESNET = {"name": "resnet", "layers": [2, 1, 1, 1], "channels": [8, 16, 16, 32], "stem_width": 8}


def built(model_cfg, norm="identity", normfree="none", **options):
    torch.manual_seed(0)
    model = build_model(model_cfg, {"name": norm}, **SIZES)
    return apply_normfree(model, {"name": normfree, **options}, model_cfg["name"], norm)


def fill_scalars(model: nn.Module) -> None:
    """Random values in every scalar, so a formula test sees each one used in its place."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            for p in m.parameters(recurse=False):
                if p.ndim == 0:
                    p.copy_(torch.randn((), generator=g) * 0.3 + (1.0 if isinstance(m, ScaleShift) and p is m.scale else 0.0))


def randomize(layer: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.2)


# -- Fixup ---------------------------------------------------------------------------------
def test_branch_scale_is_L_to_the_minus_1_over_2m_minus_2():
    assert branch_scale(16, 2) == pytest.approx(16 ** -0.5)
    assert branch_scale(16, 3) == pytest.approx(16 ** -0.25)
    assert branch_scale(8, 2) == pytest.approx(1 / math.sqrt(8))


@pytest.mark.parametrize("block, m", [("basic", 2), ("bottleneck", 3)])
def test_fixup_resnet_zero_inits_and_depth_scaled_he_init(block, m):
    cfg = {"name": "resnet", "block": block, "layers": [2, 2, 2, 2], "channels": [16, 32, 64, 128], "stem_width": 16}
    model = built(cfg, normfree="fixup")
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for b in stage]
    L = len(blocks)
    assert L == 8 and all(isinstance(b, FixupBasicBlock if m == 2 else FixupBottleneck) for b in blocks)
    assert not model.fc[1].weight.any() and not model.fc[1].bias.any()  # classifier at zero
    assert isinstance(model.fc[0], Shift)  # the scalar bias before it
    for b in blocks:
        last = b.conv2 if m == 2 else b.conv3
        assert not last.weight.any()  # last layer of every branch at zero
        scaled = [b.conv1] if m == 2 else [b.conv1, b.conv2]
        for conv in scaled:  # He (fan_out) std times L^(-1/(2m-2)), measured on the widest convs
            fan_out = conv.weight.shape[0] * conv.weight[0, 0].numel()
            want = math.sqrt(2 / fan_out) * L ** (-1 / (2 * m - 2))
            if conv.weight.numel() > 30000:
                assert conv.weight.std().item() == pytest.approx(want, rel=0.03)
    # every scalar at its init: biases 0, multipliers 1
    for mod in model.modules():
        if isinstance(mod, Shift):
            assert mod.bias.item() == 0
        if isinstance(mod, ScaleShift):
            assert (mod.scale.item(), mod.bias.item()) == (1, 0)
    assert model(torch.randn(2, 1, 28, 28)).abs().max() == 0  # zero classifier: zero logits


def test_fixup_basic_block_is_the_papers_formula():
    model = built(RESNET, normfree="fixup")
    block = model.layer2[0]  # has a projection shortcut
    randomize(block.conv2, 2)
    fill_scalars(block)
    x = torch.randn(2, 8, 14, 14)
    conv = lambda layer, t: layer(t)  # noqa: E731  (timm's convs, weights as initialised)
    b = block
    out = F.relu(conv(b.conv1, x + b.bias1a.bias) + b.bias1b.bias)
    out = conv(b.conv2, out + b.bias2a.bias) * b.scale_bias2b.scale + b.scale_bias2b.bias
    want = F.relu(out + b.downsample(x + b.bias1a.bias))
    assert torch.allclose(block(x), want, atol=1e-6)


def test_fixup_resnet_block_without_projection_is_relu_of_its_input_at_init():
    model = built(RESNET, normfree="fixup")
    x = torch.randn(2, 8, 28, 28)
    assert torch.equal(model.layer1[1](x), F.relu(x))


def test_fixup_vit_zero_inits_scaled_layers_and_identity_blocks():
    torch.manual_seed(0)
    stock = build_model(VIT, {"name": "identity"}, **SIZES)
    before = copy.deepcopy(stock.state_dict())
    model = apply_normfree(stock, {"name": "fixup"}, "vit", "identity")
    factor = (2 * VIT["depth"]) ** -0.5  # L = 2 branches a block, m = 2 layers a branch
    for i, block in enumerate(model.blocks):
        assert torch.equal(block.attn.qkv.weight, before[f"blocks.{i}.attn.qkv.weight"] * factor)
        assert torch.equal(block.mlp.fc1.weight, before[f"blocks.{i}.mlp.fc1.weight"] * factor)
        for zero in (block.attn.proj, block.mlp.fc2):
            assert not zero.weight.any() and not zero.bias.any()
        x = torch.randn(2, 16, VIT["embed_dim"])
        assert torch.equal(block(x), x)  # every branch starts switched off
    assert not model.head.weight.any() and not model.head.bias.any()


def test_fixup_vit_block_is_the_written_formula():
    model = built(VIT, normfree="fixup")
    block = model.blocks[0]
    randomize(block.attn.proj, 3)
    randomize(block.mlp.fc2, 4)
    fill_scalars(block)
    attn, mlp, h = block.attn, block.mlp, VIT["num_heads"]
    x = torch.randn(2, 16, VIT["embed_dim"])

    def attention(t):
        B, N, C = t.shape
        q, k, v = attn.qkv(t).reshape(B, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(C // h), dim=-1)
        return (weights @ v).transpose(1, 2).reshape(B, N, C)

    a = attn.proj(attention(x + block.norm1.bias) + attn.norm.bias) * block.ls1.scale + block.ls1.bias
    x1 = x + a
    hidden = F.gelu(mlp.fc1(x1 + block.norm2.bias) + mlp.act[0].bias)
    x2 = x1 + mlp.fc2(hidden + mlp.norm.bias) * block.ls2.scale + block.ls2.bias
    assert torch.allclose(block(x), x2, atol=1e-5)


# -- SkipInit ------------------------------------------------------------------------------
def test_skipinit_vit_blocks_are_x_plus_a_times_branch():
    model = built(VIT, normfree="skipinit")
    gains = [m for m in model.modules() if isinstance(m, Gain)]
    assert len(gains) == 2 * VIT["depth"] and all(g.gain.item() == 0 for g in gains)
    block, x = model.blocks[1], torch.randn(2, 16, VIT["embed_dim"])
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.ls1.gain.fill_(0.7)
        block.ls2.gain.fill_(-0.3)
    x1 = x + 0.7 * block.attn(block.norm1(x))
    assert torch.allclose(block(x), x1 + -0.3 * block.mlp(block.norm2(x1)), atol=1e-6)


def test_skipinit_gain_init_is_configurable_and_composes_with_a_norm():
    model = built(VIT, norm="dyt", normfree="skipinit", gain_init=0.25)
    assert {m.gain.item() for m in model.modules() if isinstance(m, Gain)} == {0.25}
    assert type(model.blocks[0].norm1).__name__ == "DyT"  # the norm stays


def test_skipinit_resnet_and_convnext():
    model = built(RESNET, normfree="skipinit")
    blocks = [b for s in (model.layer1, model.layer2, model.layer3, model.layer4) for b in s]
    assert all(isinstance(b.bn2[1], Gain) and b.bn2[1].gain.item() == 0 for b in blocks)
    x = torch.randn(2, 8, 28, 28)
    assert torch.equal(model.layer1[1](x), F.relu(x))  # a*f(x) = 0: relu(x + 0)
    convnext = built({"name": "convnext", "depths": [1, 1], "dims": [8, 16]}, normfree="skipinit", gain_init=0.5)
    gammas = [b.gamma for s in convnext.stages for b in s.blocks]
    assert all(g.shape == (1,) and g.item() == 0.5 for g in gammas)  # one scalar, not per channel


# -- sigmaReparam --------------------------------------------------------------------------
def test_sigma_reparam_covers_every_linear_and_conv_and_first_forward_is_unchanged():
    torch.manual_seed(0)
    stock = build_model(VIT, {"name": "identity"}, **SIZES)
    layers = [n for n, m in stock.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    x = torch.randn(3, 1, 28, 28)
    stock.train()
    want = stock(x)
    model = apply_normfree(stock, {"name": "sigma_reparam"}, "vit", "identity")
    assert [n for n, _ in reparameterised(model)] == layers
    assert "patch_embed.proj" in layers and "head" in layers
    assert torch.allclose(model(x), want, atol=1e-5)  # gamma = sigma(W0), u, v from W0's SVD


def test_sigma_reparam_weight_gradient_and_power_iteration_are_the_papers():
    torch.manual_seed(0)
    W = torch.randn(6, 5, dtype=torch.float64)
    reparam = SigmaReparam(W).double()
    W2 = (W + 0.5 * torch.randn(6, 5, dtype=torch.float64)).requires_grad_(True)  # W moved by training
    u0, gamma = reparam.u.clone(), reparam.gamma.detach().clone()
    W_hat = reparam(W2)
    # one power-iteration step from the stored u: v = Wu/|Wu|, u = W^T v/|W^T v|
    v = F.normalize(W2.detach() @ u0, dim=0)
    u = F.normalize(W2.detach().t() @ v, dim=0)
    assert torch.allclose(reparam.v, v) and torch.allclose(reparam.u, u)
    sigma = v @ W2.detach() @ u
    assert torch.allclose(W_hat, gamma / sigma * W2.detach())
    # gradient with u, v constants: dL/dW = g/s * G - g/s^2 * <G, W> v u^T
    G = torch.randn(6, 5, dtype=torch.float64)
    (W_hat * G).sum().backward()
    want = gamma / sigma * G - gamma / sigma**2 * (G * W2.detach()).sum() * torch.outer(v, u)
    assert torch.allclose(W2.grad, want)
    assert not reparam.u.requires_grad and not reparam.v.requires_grad


@pytest.mark.parametrize("shape", [(12, 7), (8, 4, 3, 3)])
def test_sigma_converges_to_the_spectral_norm_and_eval_leaves_buffers(shape):
    torch.manual_seed(0)
    W = torch.randn(shape)
    reparam = SigmaReparam(torch.randn(shape))  # u, v from another matrix: far from W's
    for _ in range(200):
        reparam(W)
    assert reparam.sigma(W).item() == pytest.approx(torch.linalg.matrix_norm(W.flatten(1), 2).item(), rel=1e-4)
    reparam.eval()
    u, v = reparam.u.clone(), reparam.v.clone()
    reparam(W + 1)
    assert torch.equal(reparam.u, u) and torch.equal(reparam.v, v)


def test_sigma_reparam_gamma_is_learnable_and_init_sigma_w0():
    layer = nn.Linear(9, 4)
    sigma0 = torch.linalg.matrix_norm(layer.weight.detach(), 2)
    model = apply_normfree(nn.Sequential(layer), {"name": "sigma_reparam"}, "vit", "identity")
    reparam = model[0].parametrizations.weight[0]
    assert reparam.gamma.requires_grad and reparam.gamma.item() == pytest.approx(sigma0.item(), rel=1e-5)


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, model, norm, message", [
    ("fixup", "vit", "dyt", "normfree=fixup does not fit norm=dyt (Fixup's init and scalar biases replace "
                            "normalization); allowed: norm=identity"),
    ("fixup", "convnext", "identity", "normfree=fixup does not fit model=convnext; models it fits: resnet, vit"),
    ("bogus", "vit", "identity", "normfree.name = 'bogus' is unknown; allowed: none, fixup, skipinit, sigma_reparam"),
])
def test_misfits_are_named_errors(name, model, norm, message):
    with pytest.raises(NormFreeConfigError) as info:
        check_normfree({"name": name}, model, norm)
    assert str(info.value) == message and isinstance(info.value, InputError)


def test_a_misfit_fails_before_training(tiny_cfg, tmp_path):
    with pytest.raises(NormFreeConfigError, match="norm=dyt"):
        train(tiny_cfg("normfree=fixup"), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.parametrize("overrides", [
    ("model=resnet", "model.layers=[1,1,1,1]", "model.channels=[8,8,16,16]", "model.stem_width=8",
     "norm=identity", "normfree=fixup"),
    ("norm=identity", "normfree=skipinit"),
    ("norm=identity", "normfree=sigma_reparam"),
    ("norm=identity", "normfree=fixup"),
])
def test_done_when_commands_train(tmp_path, overrides):
    from conftest import TINY, compose_cfg

    base = [o for o in TINY if not o.startswith("model.")] if "model=resnet" in overrides else TINY
    summary = train(compose_cfg([*base, *overrides, "probe.enabled=false"]), tmp_path)
    assert summary["status"] == "ok" and summary["run"]["normfree"] == overrides[-1].split("=")[1]
    assert math.isfinite(summary["final"]["train/loss"])
