"""normbench.models: every model x every norm that fits it, on both norm routes.

Sizes are tiny so the file runs in seconds on 2 CPU cores; what is checked is the
wiring (every norm place holds the configured norm, in the right layout, with timm's
init kept), not accuracy.
"""

import re

import pytest
import torch
from omegaconf import OmegaConf
from timm.layers import LayerNorm2d
from torch import nn

from normbench.models import (
    BATCHNORM_TARGETS,
    LAYERNORM_TARGETS,
    MODEL_NAMES,
    ModelConfigError,
    build_model,
    build_stock_model,
    norm_layers,
    replace_norms,
)
from normbench.models import convnext as convnext_module
from normbench.models import resnet as resnet_module
from normbench.models import vgg as vgg_module
from normbench.models import vit as vit_module
from normbench.norms import NormConfigError, is_norm_layer

STOCK_NORMS = (nn.LayerNorm, nn.BatchNorm2d)  # timm's LayerNorm and LayerNorm2d subclass nn.LayerNorm

TINY = {
    "vit": {"name": "vit", "patch_size": 7, "embed_dim": 16, "depth": 2, "num_heads": 2},
    "convnext": {"name": "convnext", "depths": [1, 1], "dims": [8, 16]},
    "resnet": {"name": "resnet", "layers": [1, 1, 1, 1], "channels": [8, 8, 16, 16], "stem_width": 8},
    "vgg": {"name": "vgg", "layers": [8, "M", 16, "M", 16]},  # 28 px: convs at 28, 14 and 7 px
}
ALL_NORMS = ("layernorm", "rmsnorm", "batchnorm", "groupnorm", "instancenorm", "identity", "dyt", "derf")
# Written out by hand (not taken from the code under test): which norms fit where.
FITS = {
    ("vit", "replace"): ("layernorm", "rmsnorm", "batchnorm", "identity", "dyt", "derf"),
    ("vit", "norm_layer"): ("layernorm", "rmsnorm", "batchnorm", "identity", "dyt", "derf"),
    # replace keeps channels_last block norms: no groupnorm; instancenorm breaks the pooled head norm
    ("convnext", "replace"): ("layernorm", "rmsnorm", "batchnorm", "identity", "dyt", "derf"),
    ("convnext", "norm_layer"): ("layernorm", "rmsnorm", "batchnorm", "groupnorm", "identity", "dyt", "derf"),
    ("resnet", "replace"): ALL_NORMS,
    ("resnet", "norm_layer"): ALL_NORMS,
    ("vgg", "replace"): ALL_NORMS,  # every norm place follows a conv: channels_first maps
    ("vgg", "norm_layer"): ALL_NORMS,
}
CASES = [(model, route, norm) for (model, route), norms in FITS.items() for norm in norms]
MISFITS = [(model, route, norm) for (model, route), norms in FITS.items() for norm in ALL_NORMS if norm not in norms]
# the conditional norms, forward(x, c), fit model=dit alone (tests/test_dit.py)
MISFITS += [(model, route, norm) for (model, route) in FITS for norm in ("adaln", "adaln_zero")]


def norm_cfg(name, **overrides):
    # num_groups=4 divides the tiny widths (8, 16); alpha0 != 0.5 so a default cannot pass for it
    return {"name": name, "alpha0": 0.7, "num_groups": 4, **overrides}


def tiny(model, **overrides):
    return {**TINY[model], **overrides}


def build(model, norm, route="replace", num_classes=5, in_chans=3, img_size=28, **overrides):
    return build_model(
        tiny(model, **{"norm_route": route, **overrides}),
        norm_cfg(norm),
        num_classes=num_classes,
        in_chans=in_chans,
        img_size=img_size,
    )


def count_stock_norms(model):
    return sum(isinstance(m, STOCK_NORMS) and not is_norm_layer(m) for m in model.modules())


@pytest.mark.parametrize("model_name,route,norm", CASES)
def test_forward_backward_every_norm_place_replaced(model_name, route, norm):
    torch.manual_seed(0)
    model = build(model_name, norm, route)
    out = model(torch.randn(2, 3, 28, 28))
    assert out.shape == (2, 5)
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name

    assert count_stock_norms(model) == 0
    stock = build_stock_model(tiny(model_name, norm_route=route), num_classes=5, in_chans=3, img_size=28)
    places = norm_layers(model)
    assert len(places) == count_stock_norms(stock) > 0
    assert all(m.norm_name == norm for _, m in places)


@pytest.mark.parametrize("model_name,route,norm", MISFITS)
def test_misfit_norm_is_a_config_error(model_name, route, norm):
    with pytest.raises(ModelConfigError, match=f"norm={norm} does not fit model={model_name}"):
        build(model_name, norm, route)


def test_misfit_message_names_norm_model_and_fitting_norms(monkeypatch):
    def must_not_build(*args, **kwargs):
        raise AssertionError("the misfit must be caught before building")

    monkeypatch.setattr(vit_module, "VisionTransformer", must_not_build)
    with pytest.raises(ModelConfigError) as err:
        build("vit", "groupnorm")
    message = str(err.value)
    assert "norm=groupnorm does not fit model=vit" in message
    assert "channels_last" in message and "supports only channels_first" in message
    assert "norms that fit vit: batchnorm, derf, dyt, identity, layernorm, rmsnorm" in message


def test_convnext_groupnorm_on_replace_route_points_to_norm_layer_route():
    with pytest.raises(ModelConfigError, match="norm_route=norm_layer"):
        build("convnext", "groupnorm", "replace")


@pytest.mark.parametrize("route", ["replace", "norm_layer"])
def test_vit_final_norm_after_pooling_is_dyt_with_alpha0(route):
    model = build("vit", "dyt", route)
    assert type(model.fc_norm).__name__ == "DyT"  # the norm after average pooling
    assert isinstance(model.norm, nn.Identity) and not is_norm_layer(model.norm)  # no norm before pooling
    assert not is_norm_layer(model.patch_embed.norm)  # an Identity that timm never made a norm
    places = norm_layers(model)
    assert {name for name, _ in places} == {"fc_norm"} | {f"blocks.{i}.norm{j}" for i in range(2) for j in (1, 2)}
    for name, m in places:
        assert m.layout == "channels_last", name
        assert torch.allclose(m.alpha, torch.tensor(0.7)), name



@pytest.mark.parametrize("class_token", [False, True])
def test_vit_token_stream_is_contiguous_for_every_norm(class_token):
    """timm's patch embedding hands out a transposed view; the stream the norms see must not be one
    (each norm and linear would copy it), and the model computes the same function either way."""
    model = build("vit", "layernorm", "replace", **({"class_token": True, "global_pool": "token"} if class_token else {}))
    seen = []
    for name, m in norm_layers(model):
        m.register_forward_pre_hook(lambda mod, args, name=name: seen.append((name, args[0].is_contiguous())))
    x = torch.randn(2, 3, 28, 28)
    y = model(x)
    assert seen and all(ok for _, ok in seen), seen
    model.patch_embed._forward_hooks.clear()  # timm's own layout: same values
    torch.testing.assert_close(model(x), y, rtol=1e-5, atol=1e-6)

def test_convnext_replace_route_layouts_follow_the_stock_norms():
    stock = build_stock_model(TINY["convnext"], num_classes=5, in_chans=3, img_size=28)
    expected = {
        name: "channels_first" if isinstance(m, LayerNorm2d) else "channels_last"
        for name, m in stock.named_modules()
        if isinstance(m, nn.LayerNorm)
    }
    assert "head.norm" in expected and expected["head.norm"] == "channels_first"
    assert expected["stages.0.blocks.0.norm"] == "channels_last"
    model = build("convnext", "dyt", "replace")
    assert {name: m.layout for name, m in norm_layers(model)} == expected


def test_convnext_norm_layer_route_is_channels_first_everywhere():
    model = build("convnext", "groupnorm", "norm_layer")
    assert {m.layout for _, m in norm_layers(model)} == {"channels_first"}
    assert all(block.use_conv_mlp for stage in model.stages for block in stage.blocks)


def test_convnext_stage_resolutions_at_28_px():
    model = build_stock_model({"name": "convnext"}, num_classes=10, in_chans=1, img_size=28)
    x = model.stem(torch.randn(2, 1, 28, 28))
    sizes = [x.shape[-1]]
    for stage in model.stages:
        x = stage(x)
        sizes.append(x.shape[-1])
    assert sizes == [14, 14, 7, 3]  # stem, then stage 0 at stem resolution, then halving


@pytest.mark.parametrize("route", ["replace", "norm_layer"])
@pytest.mark.parametrize("norm", ["dyt", "layernorm", "groupnorm", "batchnorm"])
@pytest.mark.parametrize("block,last", [("basic", "bn2"), ("bottleneck", "bn3")])
def test_resnet_zero_init_of_last_norm_is_kept(route, norm, block, last):
    model = build("resnet", norm, route, block=block)
    blocks = [b for layer in (model.layer1, model.layer2) for b in layer]
    for b in blocks:
        assert is_norm_layer(getattr(b, last))
        assert torch.count_nonzero(getattr(b, last).weight) == 0
        assert torch.count_nonzero(b.bn1.weight) > 0


@pytest.mark.parametrize("route", ["replace", "norm_layer"])
def test_vgg_is_conv_norm_relu_with_max_pools(route):
    model = build("vgg", "dyt", route)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "DyT", "ReLU", "MaxPool2d", "Conv2d", "DyT", "ReLU", "MaxPool2d", "Conv2d", "DyT", "ReLU"]
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding, c.bias) for c in convs] == [(8, (3, 3), (1, 1), None),
                                                                                   (16, (3, 3), (1, 1), None),
                                                                                   (16, (3, 3), (1, 1), None)]
    assert [(m.layout, m.num_features) for _, m in norm_layers(model)] == [("channels_first", n) for n in (8, 16, 16)]
    assert model.head.in_features == 16


def test_vgg_default_resolutions_and_torchvision_init():
    torch.manual_seed(0)
    model = build_stock_model({"name": "vgg"}, num_classes=10, in_chans=1, img_size=28)
    sizes, x = [], torch.randn(2, 1, 28, 28)
    for m in model.features:
        x = m(x)
        if isinstance(m, nn.MaxPool2d):
            sizes.append(x.shape[-1])
    assert sizes == [14, 7, 3, 1] and x.shape[1] == 256
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6
    conv = [m for m in model.features if isinstance(m, nn.Conv2d)][-1]  # 256 -> 256; kaiming fan_out: sqrt(2 / 2304)
    assert conv.weight.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.05)
    assert model.head.weight.std().item() == pytest.approx(0.01, rel=0.1) and not model.head.bias.any()


@pytest.mark.parametrize(
    "layers,img_size,message",
    [
        ([8, "P", 16], 28, r"^model.layers = \[8, 'P', 16\] is not allowed; allowed: a list of conv widths"),
        (["M", "M"], 28, r"^model.layers = \['M', 'M'\] is not allowed; allowed: a list of conv widths"),
        ([8, 0], 28, r"^model.layers = \[8, 0\] is not allowed"),
        ([8, 2.5], 28, r"^model.layers = \[8, 2.5\] is not allowed"),
        ([8, "M"] * 5, 28, r"^model.layers = .* has 5 max-pools, too many for img_size = 28; allowed: at most 4$"),
    ],
)
def test_bad_vgg_layers(layers, img_size, message):
    from normbench.config.validate import validate_config

    validate_config(tiny("vgg", layers=layers), group="model")  # the schema lets items through to vgg.check
    with pytest.raises(ModelConfigError, match=message):
        build("vgg", "dyt", img_size=img_size, layers=layers)


def test_vgg_32_px_takes_five_max_pools():
    model = build("vgg", "dyt", img_size=32, layers=[8, "M"] * 5)  # 32 -> 1 px, as VGG19 on CIFAR
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)


def test_replace_norms_copies_affine_and_counts():
    model = build_stock_model(TINY["vit"], num_classes=5, in_chans=3, img_size=28)
    with torch.no_grad():
        model.blocks[0].norm1.weight.uniform_(0.5, 1.5)
        model.blocks[0].norm1.bias.uniform_(-1, 1)
    weight, bias = model.blocks[0].norm1.weight.clone(), model.blocks[0].norm1.bias.clone()
    model.eval()
    model, replaced = replace_norms(model, norm_cfg("dyt"))
    assert replaced == 5  # 2 blocks x 2 + fc_norm
    assert torch.equal(model.blocks[0].norm1.weight, weight)
    assert torch.equal(model.blocks[0].norm1.bias, bias)
    assert not model.blocks[0].norm1.training  # train/eval mode is kept
    assert replace_norms(model, norm_cfg("layernorm"))[1] == 0  # normbench norms are not stock norms


def test_layernorm_at_puts_layernorm_at_the_named_places_only():
    torch.manual_seed(0)
    model = build_model(TINY["vit"], norm_cfg("dyt", layernorm_at="blocks.0.*, fc_norm"), num_classes=5,
                        in_chans=1, img_size=28)
    kinds = {name: type(m).__name__ for name, m in norm_layers(model)}
    assert kinds == {"blocks.0.norm1": "LayerNorm", "blocks.0.norm2": "LayerNorm", "blocks.1.norm1": "DyT",
                     "blocks.1.norm2": "DyT", "fc_norm": "LayerNorm"}
    # the LayerNorm places compute (x - mean) / sqrt(var + eps) * w + b, eps the stock 1e-6
    ln = model.blocks[0].norm1
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-1, 1)
    x = torch.randn(3, 4, 16) * 3 + 1
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(ln(x), (x - mean) / torch.sqrt(var + 1e-6) * ln.weight + ln.bias)
    assert model.blocks[1].norm1.alpha.item() == pytest.approx(0.7)  # the others are the norm asked for


@pytest.mark.parametrize("model_name,norm,cfg_model,message", [
    ("vit", "dyt", TINY["vit"], "'blocks.7.*' names no norm place of this model; allowed: globs over blocks.0.norm1"),
    ("resnet", "dyt", {**TINY["resnet"], "norm_route": "norm_layer"}, "applies to model.norm_route=replace only"),
])
def test_layernorm_at_naming_nothing_or_on_another_route_is_an_error(model_name, norm, cfg_model, message):
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        build_model(cfg_model, norm_cfg(norm, layernorm_at="blocks.7.*"), num_classes=5, in_chans=1, img_size=28)


def test_layernorm_at_on_the_llama_is_an_error():
    with pytest.raises(ModelConfigError, match=r"norm.layernorm_at = 'layers.0.\*' applies to image models"):
        build_model({"name": "llama", "embed_dim": 16, "depth": 1, "num_heads": 2},
                    {"name": "rmsnorm", "layernorm_at": "layers.0.*"}, vocab_size=11, context_length=8)


@pytest.mark.parametrize(
    "model_name,same_norm",
    [("vit", "layernorm"), ("convnext", "layernorm"), ("resnet", "batchnorm"), ("vgg", "batchnorm")],
)
def test_replacing_the_stock_norm_with_itself_changes_nothing(model_name, same_norm):
    # the strongest check of the replace route: places, layouts, affine copy and eps all match
    torch.manual_seed(0)
    stock = build_stock_model(TINY[model_name], num_classes=5, in_chans=3, img_size=28)
    with torch.no_grad():  # non-trivial affine parameters, so a lost copy would show
        for m in stock.modules():
            if isinstance(m, STOCK_NORMS):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 28, 28)
    expected = stock(x)
    targets = BATCHNORM_TARGETS if same_norm == "batchnorm" else LAYERNORM_TARGETS
    replaced, count = replace_norms(stock, norm_cfg(same_norm, eps=None), targets=targets)
    assert count_stock_norms(replaced) == 0 and count == len(norm_layers(replaced))
    torch.testing.assert_close(replaced(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_name", [n for n in MODEL_NAMES if n not in ("llama", "dit")])  # classifiers
@pytest.mark.parametrize("in_chans", [1, 3])
@pytest.mark.parametrize("img_size", [28, 32])
def test_input_channels_and_sizes(model_name, in_chans, img_size):
    overrides = {"patch_size": 4} if model_name == "vit" else {}  # 4 divides 28 and 32
    model = build(model_name, "dyt", in_chans=in_chans, img_size=img_size, num_classes=7, **overrides)
    assert model(torch.randn(2, in_chans, img_size, img_size)).shape == (2, 7)


def test_vit_patch_must_divide_image():
    with pytest.raises(ModelConfigError, match=r"model.patch_size = 7 does not divide img_size = 32; allowed: .*\b4\b"):
        build("vit", "dyt", img_size=32)


def test_unknown_model_name():
    with pytest.raises(ModelConfigError, match=r"^model.name = 'x' is unknown; allowed: convnext, dit, llama, resnet, vgg, vit$"):
        build_model({"name": "x"}, norm_cfg("dyt"), num_classes=5, in_chans=3, img_size=28)


def test_unknown_model_key_names_the_key_and_allowed_keys():
    with pytest.raises(ModelConfigError) as err:
        build("vit", "dyt", emb_dim=64)
    assert "model.emb_dim" in str(err.value) and "embed_dim" in str(err.value) and "norm_route" in str(err.value)


@pytest.mark.parametrize(
    "key,value",
    [
        ("norm_route", "inject"),
        ("block", "wide"),
        ("layers", [1, 1]),
        ("global_pool", "token"),
        ("depths", [1, 1, 1]),
        ("dims", [8, 16, 32, 64, 128]),
    ],
)
def test_bad_model_values(key, value):
    model_name = {"block": "resnet", "layers": "resnet", "depths": "convnext", "dims": "convnext"}.get(key, "vit")
    with pytest.raises(ModelConfigError, match=f"model.{key}"):
        build(model_name, "dyt", **{key: value})


def test_norm_config_errors_pass_through_unchanged():
    with pytest.raises(NormConfigError):
        build_model(TINY["vit"], {"name": "nosuchnorm"}, num_classes=5, in_chans=3, img_size=28)
    for route in ("replace", "norm_layer"):
        with pytest.raises(NormConfigError):
            build_model(
                {**TINY["vit"], "norm_route": route},
                {"name": "dyt", "alpha0": -1.0},
                num_classes=5,
                in_chans=3,
                img_size=28,
            )


@pytest.mark.parametrize("module", [vit_module, convnext_module, resnet_module, vgg_module])
def test_yaml_configs_match_python_defaults_and_build(module):
    from conftest import compose_cfg  # the preset on its schema node (normbench/config), as Hydra composes it

    model_cfg = compose_cfg([f"model={module.SPEC.name}"]).model
    plain = OmegaConf.to_container(model_cfg)
    assert plain.pop("name") == module.SPEC.name
    assert plain == dict(module.DEFAULTS)
    norm = compose_cfg(["norm=dyt"]).norm
    model = build_model(model_cfg, norm, num_classes=10, in_chans=1, img_size=28)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
