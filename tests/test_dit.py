"""model=dit (normbench/models/dit.py): shapes, patchify/unpatchify, the norm places, adaLN-Zero's
identity at init, and the config errors (patch size, norms that do not fit)."""

from __future__ import annotations

import re

import pytest
import torch
from omegaconf import OmegaConf

from normbench.models import ModelConfigError, build_model, check_model_fits_norm, norm_layers
from normbench.models import dit as dit_module
from normbench.norms import build_conditional_norm
from normbench.probes import NormProbe

TINY = {"name": "dit", "patch_size": 4, "embed_dim": 16, "depth": 2, "num_heads": 2}


def build(norm="adaln_zero", img_size=28, in_chans=1, num_classes=10, **norm_options):
    return build_model({**TINY, "patch_size": norm_options.pop("patch_size", 4)}, {"name": norm, **norm_options},
                       num_classes=num_classes, in_chans=in_chans, img_size=img_size)


def inputs(n=3, in_chans=1, img_size=28, num_classes=10):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n, in_chans, img_size, img_size, generator=g), torch.rand(n, generator=g),
            torch.randint(0, num_classes + 1, (n,), generator=g))


@pytest.mark.parametrize("patch_size, img_size, in_chans", [(4, 28, 1), (2, 28, 1), (4, 16, 3)])
def test_output_has_the_input_shape_and_gradients_reach_every_parameter(patch_size, img_size, in_chans):
    torch.manual_seed(0)
    model = build(patch_size=patch_size, img_size=img_size, in_chans=in_chans, zero_init=False)
    x, t, y = inputs(in_chans=in_chans, img_size=img_size)
    out = model(x, t, y)
    assert out.shape == x.shape
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.pos_embed.shape == (1, (img_size // patch_size) ** 2, 16)
    assert "pos_embed" not in model.state_dict()  # fixed: recomputed from the config


def test_unpatchify_puts_each_tokens_pixels_in_its_patch():
    model = build(patch_size=4)
    g, p = 7, 4
    tokens = torch.arange(2 * g * g * p * p, dtype=torch.float32).view(2, g * g, p * p * 1)
    img = model.unpatchify(tokens)
    for b in range(2):
        for i in range(g):
            for j in range(g):  # token i * g + j holds the p x p pixels of patch row i, column j, row-major
                want = tokens[b, i * g + j].view(p, p)
                assert torch.equal(img[b, 0, i * p:(i + 1) * p, j * p:(j + 1) * p], want)


def test_position_embedding_is_2d_sin_cos():
    pe = dit_module.sincos_2d(8, 3)  # 9 tokens; channels 0-3 encode the row, 4-7 the column
    row, col = torch.arange(9) // 3, torch.arange(9) % 3
    for k, pos in ((0, row), (4, col)):
        # 2 frequencies per half: 1 and 1/100 (10000 ** -(i / 2)), sin then cos
        for i, w in enumerate((1.0, 0.01)):
            assert torch.allclose(pe[:, k + i], torch.sin(pos * w), atol=1e-6)
            assert torch.allclose(pe[:, k + 2 + i], torch.cos(pos * w), atol=1e-6)


@pytest.mark.parametrize("norm", ["adaln", "adaln_zero"])
@pytest.mark.parametrize("core", ["layernorm", "dyt"])
def test_every_norm_place_holds_the_configured_norm(norm, core):
    model = build(norm, core=core, alpha0=0.7)
    places = norm_layers(model)
    assert [name for name, _ in places] == ["blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2",
                                            "final_norm"]
    assert all(m.norm_name == norm and m.core == core for _, m in places)
    assert all(m.gated == (norm == "adaln_zero") for _, m in places[:-1])
    assert not model.final_norm.gated  # nothing is added to the final norm's output
    if core == "dyt":
        assert all(m.alpha.item() == pytest.approx(0.7) for _, m in places)


@pytest.mark.parametrize("core", ["layernorm", "dyt"])
def test_an_adaln_zero_block_is_exactly_the_identity_at_init(core):
    torch.manual_seed(0)
    model = build("adaln_zero", zero_init=True, core=core)
    x, c = torch.randn(3, 49, 16) * 5, torch.randn(3, 16)
    for block in model.blocks:
        assert torch.equal(block(x, c), x)
    assert torch.equal(model(*inputs()), torch.zeros(3, 1, 28, 28))  # and the head starts at zero
    # without the zero-init (or without the gate) a block changes its input
    assert not torch.equal(build("adaln_zero", zero_init=False, core=core).blocks[0](x, c), x)
    assert not torch.equal(build("adaln", zero_init=True, core=core).blocks[0](x, c), x)


def test_the_block_is_the_written_formula():
    torch.manual_seed(0)
    block = build("adaln_zero", zero_init=False).blocks[0]
    x, c = torch.randn(2, 49, 16), torch.randn(2, 16)
    n1, n2 = block.norm1, block.norm2
    h = x + n1.gate(c) * block.attn(n1(x, c))
    want = h + n2.gate(c) * block.mlp(n2(h, c))
    torch.testing.assert_close(block(x, c), want)


def test_the_probes_record_every_norm_of_a_dit_and_alpha_of_the_dyt_core():
    model = build("adaln_zero", core="dyt", alpha0=0.6)
    lines = NormProbe(model, inputs())()
    stats = [e for e in lines if e["kind"] == "stats"]
    assert len(stats) == 5 and all(e["alpha"] == pytest.approx(0.6) for e in stats)


def test_the_patch_size_must_divide_the_image():
    with pytest.raises(ModelConfigError, match=re.escape("model.patch_size = 5 does not divide img_size = 28; "
                                                         "allowed: 1, 2, 4, 7, 14, 28")):
        build(patch_size=5)


@pytest.mark.parametrize("key, value, message", [
    ("num_heads", 3, "model.num_heads = 3 must divide model.embed_dim = 16"),
    ("embed_dim", 6, "model.embed_dim = 6 is not allowed: must be a multiple of 4"),
    ("depth", 0, "model.depth = 0 must be a positive integer"),
    ("mlp_ratio", 0.0, "model.mlp_ratio = 0.0 is not allowed: must be a number > 0"),
    ("emb_dim", 16, "model.emb_dim is not a key of model=dit; allowed:"),
])
def test_bad_model_values(key, value, message):
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        build_model({**TINY, key: value}, {"name": "adaln_zero"}, num_classes=10, in_chans=1, img_size=28)


@pytest.mark.parametrize("model, norm, message", [
    ({"name": "dit"}, "layernorm", "norm=layernorm does not fit model=dit: dit conditions every norm place on a "
                                   "vector c (timestep and class), forward(x, c), and layernorm takes none; "
                                   "norms that fit dit: adaln, adaln_zero"),
    ({"name": "dit"}, "dyt", "norm=dyt does not fit model=dit"),
    ({"name": "vit"}, "adaln_zero", "norm=adaln_zero does not fit model=vit: adaln_zero is a conditional norm, "
                                    "forward(x, c), for model=dit, and vit's norm places pass no conditioning "
                                    "vector; norms that fit vit: "),
    ({"name": "llama"}, "adaln", "norm=adaln does not fit model=llama"),
    ({"name": "convnext", "norm_route": "norm_layer"}, "adaln", "norm=adaln does not fit model=convnext"),
])
def test_a_norm_that_does_not_fit_is_a_named_error_before_building(model, norm, message, monkeypatch):
    monkeypatch.setattr(dit_module, "DiT", None)  # building would fail differently
    with pytest.raises(ModelConfigError, match=re.escape(message)) as err:
        check_model_fits_norm(model, {"name": norm})
    assert "adaln" not in str(err.value).split("norms that fit")[1] or model["name"] == "dit"
    if model["name"] == "dit":
        with pytest.raises(ModelConfigError, match=re.escape(message)):
            build_model({**TINY}, {"name": norm}, num_classes=10, in_chans=1, img_size=28)


def test_the_final_norm_of_build_conditional_norm_has_no_gate():
    assert build_conditional_norm("adaln_zero", 16, gated=False).gate_proj is None


def test_yaml_config_matches_python_defaults_and_default_size():
    from conftest import compose_cfg

    cfg = compose_cfg(["task=generate"])
    plain = OmegaConf.to_container(cfg.model)
    assert plain.pop("name") == "dit" and plain == dict(dit_module.DEFAULTS)
    model = build_model(cfg.model, cfg.norm, num_classes=10, in_chans=1, img_size=28)
    assert 0.2e6 < sum(p.numel() for p in model.parameters()) < 2e6
