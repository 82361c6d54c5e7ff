"""model=llama (normbench/models/llama.py): the DyT-LLaMA form, every fitting norm, causal
masking, RMSNorm from the registry, pre/post norm, and that a tiny one overfits a short text."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from normbench.models import ModelConfigError, build_model, norm_layers
from normbench.models import llama as llama_module
from normbench.norms import DyT, RMSNorm, is_norm_layer

TINY = {"name": "llama", "embed_dim": 16, "depth": 2, "num_heads": 2}
# Written out by hand: the norms whose layout fits llama's tokens and that keep it causal.
FITS = ("derf", "dyt", "identity", "layernorm", "rmsnorm")


def build(norm="dyt", context_length=16, norm_options=None, **model):
    return build_model({**TINY, **model}, {"name": norm, **(norm_options or {})}, vocab_size=256,
                       context_length=context_length)


def test_dyt_llama_form_no_bias_alpha0_per_position_and_embedding_scalar():
    model = build("dyt", norm_options={"alpha0": 0.7, "alpha0_attn": 1.2, "alpha0_ffn": 0.3})
    places = dict(norm_layers(model))
    expected = {**{f"layers.{i}.attention_norm": 1.2 for i in range(2)},
                **{f"layers.{i}.ffn_norm": 0.3 for i in range(2)}, "norm": 0.7}  # final: norm.alpha0
    assert set(places) == set(expected)
    for name, alpha0 in expected.items():
        m = places[name]
        assert isinstance(m, DyT) and m.bias is None and m.weight is not None, name
        assert m.alpha.item() == pytest.approx(alpha0), name
    assert model.embed_scale.item() == pytest.approx(math.sqrt(16)) and model.embed_scale.requires_grad
    final = build("dyt", norm_options={"alpha0_final": 2.0})
    assert final.norm.alpha.item() == pytest.approx(2.0) and final.layers[0].ffn_norm.alpha.item() == 0.5
    assert build("dyt", embed_scale=False).embed_scale is None
    assert build("dyt", norm_bias=True).norm.bias is not None  # model.norm_bias, not norm.bias, decides


def test_no_bias_anywhere_and_a_tied_head():
    model = build("rmsnorm", tie_embeddings=True)
    assert model.output.weight is model.tok_embeddings.weight
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())
    untied = build("rmsnorm")
    assert untied.output.weight is not untied.tok_embeddings.weight


@pytest.mark.parametrize("position", ["pre", "post"])
@pytest.mark.parametrize("norm", FITS)
def test_every_fitting_norm_trains_forward_and_backward(norm, position):
    torch.manual_seed(0)
    model = build(norm, norm_position=position)
    tokens = torch.randint(0, 256, (2, 16))
    logits = model(tokens)
    assert logits.shape == (2, 16, 256)
    F.cross_entropy(logits.flatten(0, 1), tokens.flatten()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    places = norm_layers(model)
    assert all(m.norm_name == norm and m.layout == "channels_last" for _, m in places)
    # pre: before attention, before the MLP, and a final norm; post: norm(x + f(x)), no final norm
    assert len(places) == 2 * 2 + (position == "pre")
    assert is_norm_layer(model.norm) == (position == "pre")


@pytest.mark.parametrize("norm, why", [("batchnorm", "causal masking breaks"),
                                       ("groupnorm", "supports only channels_first")])
def test_misfit_norms_are_named_errors(norm, why):
    with pytest.raises(ModelConfigError, match=f"norm={norm} does not fit model=llama") as info:
        build(norm)
    assert why in str(info.value) and "norms that fit llama: derf, dyt, identity, layernorm, rmsnorm" in str(info.value)


@pytest.mark.parametrize("position", ["pre", "post"])
def test_causal_a_later_token_never_changes_an_earlier_position(position):
    torch.manual_seed(0)
    model = build("dyt", norm_position=position).eval()
    tokens = torch.randint(0, 256, (1, 16))
    base = model(tokens)
    for j in (1, 7, 15):
        changed = tokens.clone()
        changed[0, j] = (changed[0, j] + 1) % 256
        out = model(changed)
        torch.testing.assert_close(out[:, :j], base[:, :j], rtol=0, atol=1e-6)
        assert not torch.allclose(out[:, j], base[:, j])  # position j itself does see it


def test_llama_rmsnorm_is_the_registrys_x_over_root_mean_square():
    model = build("rmsnorm", norm_options={"eps": 1e-5})
    norm = model.layers[0].attention_norm
    assert isinstance(norm, RMSNorm)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight.double()
    torch.testing.assert_close(norm.double()(x), expected)


# "Overfits" means below 0.61 nats, the text's bigram entropy: the model must use more than the
# previous byte. The bound is half that, with margin across torch versions and CPU kinds: on one
# AVX-512 machine, 300 steps end at 0.001-0.002 (rmsnorm) and 0.001-0.066 (dyt) over seeds 0-5,
# while DyT's step-150 loss, the old test's point, moved from 0.08 to 0.16 between machines.
# DyT at the default alpha0 0.5 on this 32-wide model plateaus far higher (small widths want a
# larger alpha0, claim C6), so it runs at alpha0 2.
@pytest.mark.train
@pytest.mark.parametrize("norm, options", [("rmsnorm", {}), ("dyt", {"alpha0": 2.0})])
def test_a_tiny_llama_overfits_a_short_text(norm, options):
    torch.manual_seed(0)
    text = torch.tensor(list(b"the quick brown fox jumps over the lazy dog; "), dtype=torch.long)
    x, y = text[None, :-1], text[None, 1:]
    model = build(norm, context_length=len(text) - 1, norm_options=options, embed_dim=32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for _ in range(300):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the mean of the last 10 steps, so one late spike of Adam does not decide it
    assert sum(losses[-10:]) / 10 < 0.3, losses[-10:]  # from ln 256 = 5.5 at init


@pytest.mark.parametrize("key, value", [("num_heads", 3), ("norm_position", "middle"), ("mlp_ratio", 0.0),
                                        ("embed_dim", 18)])
def test_bad_llama_values_name_the_key(key, value):
    overrides = {"num_heads": 6} if key == "embed_dim" else {}  # 18 / 6 = 3: an odd head size
    with pytest.raises(ModelConfigError, match=f"model.{key}"):
        build("dyt", **{**overrides, key: value})


def test_position_alpha0_on_a_model_without_positions_is_an_error_not_ignored():
    with pytest.raises(ModelConfigError, match=r"norm.alpha0_attn = 1.0 applies to model=llama/vit only; "
                                               r"allowed with model=convnext: null"):
        build_model({"name": "convnext", "dims": [8, 16], "depths": [1, 1]}, {"name": "dyt", "alpha0_attn": 1.0},
                    num_classes=5, in_chans=1, img_size=28)
    with pytest.raises(ModelConfigError, match=r"applies to model=llama/vit only \(norm_route=replace\)"):
        build_model({"name": "vit", "embed_dim": 16, "depth": 1, "num_heads": 2, "norm_route": "norm_layer"},
                    {"name": "dyt", "alpha0_attn": 1.0}, num_classes=5, in_chans=1, img_size=28)


def test_the_vits_positions_take_their_own_alpha0_and_are_not_calibrated():
    """norm.alpha0_<position> on the ViT: norm1 is attn, norm2 ffn, fc_norm final; a position with
    its own alpha0 stays fixed under alpha0_mode=data (the fc_norm control of results/alpha0_data)."""
    from normbench.models.find_norms import norm_layers

    norm = {"name": "dyt", "alpha0": 0.5, "alpha0_attn": 0.8, "alpha0_final": 2.0, "alpha0_mode": "data"}
    model = build_model({"name": "vit", "embed_dim": 16, "depth": 2, "num_heads": 2}, norm, num_classes=5,
                        in_chans=1, img_size=28)
    got = {n: (m.alpha0, m.alpha0_mode) for n, m in norm_layers(model)}
    assert got == {"blocks.0.norm1": (0.8, "fixed"), "blocks.0.norm2": (0.5, "data"),
                   "blocks.1.norm1": (0.8, "fixed"), "blocks.1.norm2": (0.5, "data"), "fc_norm": (2.0, "fixed")}
    from normbench.train.alpha0_data import calibrate_alpha0

    found = calibrate_alpha0(model, torch.randn(4, 1, 28, 28))
    assert sorted(found) == ["blocks.0.norm2", "blocks.1.norm2"]
    assert model.fc_norm.alpha.item() == 2.0 and model.blocks[0].norm1.alpha.item() == pytest.approx(0.8)


def test_yaml_preset_is_the_schema_and_builds():
    from conftest import compose_cfg

    cfg = compose_cfg(["task=lm", "model=llama", "data=shakespeare"])
    plain = OmegaConf.to_container(cfg.model)
    assert plain.pop("name") == "llama" and plain == dict(llama_module.DEFAULTS)
    model = build_model(cfg.model, cfg.norm, vocab_size=256, context_length=cfg.data.context_length)
    n = sum(p.numel() for p in model.parameters())
    assert 0.5e6 <= n <= 20e6, n  # a cpu size
    assert model(torch.randint(0, 256, (2, 128))).shape == (2, 128, 256)
    assert isinstance(model.norm, nn.Module)
