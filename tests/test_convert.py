"""normbench.convert on models normbench did not build: stock timm models, a hand-written
module, a caller-named RMSNorm class.

The layouts are checked against what each stock class's own forward does: replacing a stock
norm with its normbench equivalent (LayerNorm -> layernorm, BatchNorm -> batchnorm, ...) must
change no output, and a BatchNorm2d -> DyT must act along dim 1, as the formula says.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import timm
import timm.layers as tl
import torch
from torch import nn

import normbench
from normbench.errors import InputError, ModelConfigError, NormConfigError
from normbench.norms import DyT, is_norm_layer

C = 8


def randomize_affine(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weight, bias and running statistics, so a lost copy shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            for attr in ("weight", "bias"):
                t = getattr(m, attr, None)
                if isinstance(t, torch.Tensor) and t.ndim == 1 and not isinstance(m, (nn.Linear, nn.Conv2d)):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5 if attr == "weight"
                            else torch.randn(t.shape, generator=g))
            if isinstance(getattr(m, "running_mean", None), torch.Tensor):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def snapshot(model: nn.Module) -> tuple[list, dict]:
    return [(n, type(m)) for n, m in model.named_modules()], {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: tuple[list, dict]) -> None:
    modules, state = snapshot(model)
    assert modules == before[0]
    assert state.keys() == before[1].keys() and all(torch.equal(state[k], before[1][k]) for k in state)


# ---- stock timm models ----------------------------------------------------------------


def tiny_vit():
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, num_classes=5)


def test_timm_vit_every_layernorm_becomes_channels_last_dyt():
    torch.manual_seed(0)
    model = tiny_vit()
    stock = [n for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)]
    replaced = normbench.convert(model, "dyt", alpha0=0.7)
    assert [r.name for r in replaced] == stock and len(stock) == 2 * 12 + 1  # 12 blocks x 2 + final norm
    assert all(type(r.old) is tl.LayerNorm and isinstance(r.new, DyT) for r in replaced)
    assert all(r.new.layout == "channels_last" and r.new.alpha.item() == pytest.approx(0.7) for r in replaced)
    assert all(model.get_submodule(r.name) is r.new for r in replaced)
    assert not any(isinstance(m, nn.LayerNorm) for m in model.modules())
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 5)
    out.square().mean().backward()
    assert all(r.new.alpha.grad is not None and torch.isfinite(r.new.alpha.grad).all() for r in replaced)


def test_timm_vit_layernorm_to_layernorm_changes_nothing():
    torch.manual_seed(0)
    model = randomize_affine(tiny_vit()).eval()
    x = torch.randn(2, 3, 32, 32)
    expected = model(x)
    assert len(normbench.convert(model, "layernorm")) == 25  # eps 1e-6 carried over from timm's layers
    assert all(is_norm_layer(m) for m in model.modules() if isinstance(m, nn.LayerNorm))
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_050"])  # BatchNorm2d; BatchNormAct2d
def test_timm_batchnorm_to_batchnorm_changes_nothing_train_and_eval(name):
    torch.manual_seed(0)
    model = randomize_affine(timm.create_model(name, pretrained=False, num_classes=5))
    stock = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    twin = randomize_affine(timm.create_model(name, pretrained=False, num_classes=5))
    twin.load_state_dict(model.state_dict())
    replaced = normbench.convert(twin, "batchnorm")
    assert [r.name for r in replaced] == stock and all(r.new.layout == "channels_first" for r in replaced)
    x = torch.randn(4, 3, 32, 32)
    for mode in ("eval", "train"):  # eval: copied running stats; train: batch stats, then equal updates
        model.train(mode == "train")
        twin.train(mode == "train")
        torch.testing.assert_close(twin(x), model(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(replaced[0].new.running_mean, model.get_submodule(stock[0]).running_mean)


def test_timm_norm_act_keeps_its_activation():
    model = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=5)
    acts = {n: type(m.act) for n, m in model.named_modules() if isinstance(m, tl.BatchNormAct2d)}
    replaced = normbench.convert(model, "dyt")
    assert len(replaced) == len(acts) > 0
    for r in replaced:
        place = model.get_submodule(r.name)
        assert isinstance(place, nn.Sequential) and place[0] is r.new and type(place[2]) is acts[r.name]
    model(torch.randn(2, 3, 32, 32)).sum().backward()


# ---- every timm and torch norm class: its layout, by its own forward --------------------

# Written out by hand: each class, how to build it with C channels, the normbench norm that
# computes the same, and an input its own forward takes (which says its layout).
TOKENS, MAPS = (2, 5, C), (2, C, 3, 3)
SAME = [
    (lambda: nn.LayerNorm(C), "layernorm", TOKENS),
    (lambda: tl.LayerNorm(C), "layernorm", TOKENS),
    (lambda: tl.LayerNormFp32(C), "layernorm", TOKENS),
    (lambda: tl.LayerNorm2d(C), "layernorm", MAPS),
    (lambda: tl.LayerNorm2dFp32(C), "layernorm", MAPS),
    (lambda: tl.LayerNormAct(C), "layernorm", TOKENS),
    (lambda: tl.LayerNormAct2d(C), "layernorm", MAPS),
    (lambda: nn.RMSNorm(C, eps=1e-6), "rmsnorm", TOKENS),
    (lambda: tl.RmsNorm(C), "rmsnorm", TOKENS),
    (lambda: tl.RmsNormFp32(C), "rmsnorm", TOKENS),
    (lambda: tl.RmsNorm2d(C), "rmsnorm", MAPS),
    (lambda: tl.RmsNorm2dFp32(C), "rmsnorm", MAPS),
    (lambda: tl.RmsNormAct(C), "rmsnorm", TOKENS),
    (lambda: tl.RmsNormAct2d(C), "rmsnorm", MAPS),
    (lambda: nn.BatchNorm1d(C), "batchnorm", (6, C)),
    (lambda: nn.BatchNorm1d(C), "batchnorm", (2, C, 5)),
    (lambda: nn.BatchNorm2d(C), "batchnorm", MAPS),
    (lambda: nn.BatchNorm3d(C), "batchnorm", (2, C, 2, 2, 2)),
    (lambda: tl.BatchNormAct2d(C), "batchnorm", MAPS),
    (lambda: nn.GroupNorm(4, C), "groupnorm", MAPS),
    (lambda: tl.GroupNorm(C, num_groups=2), "groupnorm", MAPS),
    (lambda: tl.GroupNorm1(C), "groupnorm", MAPS),
    (lambda: tl.GroupNormAct(C, num_groups=4), "groupnorm", MAPS),
    (lambda: nn.InstanceNorm2d(C, affine=True), "instancenorm", MAPS),
]


@pytest.mark.parametrize("make,same,shape", SAME, ids=[f"{make().__class__.__name__}-{len(s)}d" for make, _, s in SAME])
def test_every_stock_norm_class_replaced_by_its_equivalent_changes_nothing(make, same, shape):
    torch.manual_seed(0)
    model = randomize_affine(nn.Sequential(nn.Identity(), make()))
    x = torch.randn(shape) * 2 + 0.5
    expected = model(x)
    replaced = normbench.convert(model, same)
    assert len(replaced) == 1 and replaced[0].new.norm_name == same
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make,layout", [(lambda: tl.SimpleNorm(C), "channels_last"),
                                          (lambda: tl.SimpleNorm2d(C), "channels_first")])
def test_timm_simplenorm_layouts(make, layout):
    model = nn.Sequential(make())
    assert normbench.convert(model, "dyt")[0].new.layout == layout


def test_sync_batchnorm_is_replaced_in_eval():
    model = randomize_affine(nn.Sequential(nn.Conv2d(3, C, 1), nn.SyncBatchNorm(C))).eval()
    x = torch.randn(2, 3, 4, 4)
    expected = model(x)
    assert normbench.convert(model, "batchnorm")[0].new.layout == "channels_first"
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


# ---- a hand-written module --------------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, C, 3, padding=1)
        self.bn = nn.BatchNorm2d(C)
        self.gn = nn.GroupNorm(2, C)
        self.blocks = nn.Sequential(nn.Linear(C, C), nn.LayerNorm(C), nn.GELU())
        self.head = nn.Linear(C, 3)

    def forward(self, x):
        x = self.gn(torch.relu(self.bn(self.conv(x))))  # (B, C, H, W)
        x = self.blocks(x.flatten(2).transpose(1, 2))  # (B, HW, C) tokens
        return self.head(x.mean(1))


def test_hand_written_module_counts_layouts_and_trains():
    torch.manual_seed(0)
    model = Net()
    replaced = normbench.convert(model, "dyt", alpha0=0.6)
    assert [(r.name, type(r.old).__name__, r.new.layout) for r in replaced] == [
        ("bn", "BatchNorm2d", "channels_first"),
        ("gn", "GroupNorm", "channels_first"),
        ("blocks.1", "LayerNorm", "channels_last"),
    ]
    assert all(isinstance(m, DyT) for m in (model.bn, model.gn, model.blocks[1]))
    out = model(torch.randn(2, 3, 4, 4))
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_batchnorm2d_to_dyt_acts_channels_first_as_the_formula():
    torch.manual_seed(0)
    model = randomize_affine(Net())
    w, b = model.bn.weight.detach().clone(), model.bn.bias.detach().clone()
    normbench.convert(model, "dyt", alpha0=0.7)
    x = torch.randn(2, C, 3, 5, dtype=torch.float64)  # H != W != C: a wrong layout cannot broadcast by chance
    dyt = model.bn.double()
    want = w.double().view(1, C, 1, 1) * torch.tanh(0.7 * x) + b.double().view(1, C, 1, 1)
    torch.testing.assert_close(dyt(x), want)


def test_hand_written_module_same_norms_change_nothing():
    torch.manual_seed(0)
    model = randomize_affine(Net())
    x = torch.randn(4, 3, 4, 4)
    model.eval()
    expected = model(x)
    for name in ("batchnorm", "groupnorm", "layernorm"):  # each replaces only its own kind here
        normbench.convert(model, name, stock=False, classes={
            "batchnorm": {nn.BatchNorm2d: "channels_first"}, "groupnorm": {nn.GroupNorm: "channels_first"},
            "layernorm": {nn.LayerNorm: "channels_last"}}[name])
    assert {type(m).__name__ for m in (model.bn, model.gn, model.blocks[1])} == {"BatchNorm", "GroupNorm", "LayerNorm"}
    assert model.gn.num_groups == 2 and model.gn.eps == 1e-5  # carried over, not norm.num_groups' default 32
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_device_dtype_and_mode_are_kept():
    model = Net().double().eval()
    normbench.convert(model, "dyt")
    assert model.bn.weight.dtype == torch.float64 and not model.bn.training
    no_affine = nn.Sequential(nn.Linear(C, C), nn.LayerNorm(C, elementwise_affine=False)).double()
    normbench.convert(no_affine, "dyt")  # no tensors of its own: the model's dtype
    assert no_affine[1].alpha.dtype == torch.float64


def test_a_module_at_two_places_gets_one_new_norm():
    norm = nn.LayerNorm(C)
    model = nn.Sequential(nn.Linear(C, C), norm, nn.Linear(C, C), norm)
    replaced = normbench.convert(model, "dyt")
    assert [r.name for r in replaced] == ["1", "3"] and model[1] is model[3] and isinstance(model[1], DyT)


def test_converting_twice_replaces_nothing_more():
    model = Net()
    assert len(normbench.convert(model, "layernorm")) == 3
    assert normbench.convert(model, "dyt") == []  # normbench norms are not targets


# ---- a caller-named class (e.g. transformers' LlamaRMSNorm) -----------------------------


class MyRMSNorm(nn.Module):
    """transformers' LlamaRMSNorm as written there: weight, variance_epsilon, no num_features."""

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


class TinyLM(nn.Module):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.embed = nn.Embedding(16, C)
        self.norm1 = MyRMSNorm(C, eps)
        self.mlp = nn.Linear(C, C)
        self.norm2 = MyRMSNorm(C, eps)
        self.head = nn.Linear(C, 16)

    def forward(self, ids):
        h = self.embed(ids)
        h = h + self.mlp(self.norm1(h))
        return self.head(self.norm2(h))


def test_caller_named_rmsnorm_class():
    torch.manual_seed(0)
    model = randomize_affine(TinyLM(eps=1e-3))
    ids = torch.randint(0, 16, (2, 7))
    expected = model(ids)
    assert normbench.convert(model, "dyt") == []  # not a stock class: left alone unless named
    replaced = normbench.convert(model, "rmsnorm", classes={MyRMSNorm: "channels_last"})
    assert [(r.name, type(r.old).__name__) for r in replaced] == [("norm1", "MyRMSNorm"), ("norm2", "MyRMSNorm")]
    assert model.norm1.eps == 1e-3  # from variance_epsilon
    torch.testing.assert_close(model(ids), expected, rtol=1e-5, atol=1e-5)  # weight copied, eps carried

    model = TinyLM()
    normbench.convert(model, "dyt", alpha0=0.5, bias=False, classes={MyRMSNorm: "channels_last"})
    assert isinstance(model.norm1, DyT) and model.norm1.bias is None and model.norm1.num_features == C
    model(ids).sum().backward()
    assert model.norm1.alpha.grad is not None


class Opaque(nn.Module):
    """A norm with no weight and no attribute that says its channels."""

    def forward(self, x):
        return x / x.std(-1, keepdim=True)


def test_channels_that_cannot_be_told_are_a_named_error_and_nothing_changes():
    model = nn.Sequential(nn.LayerNorm(C), Opaque())
    before = snapshot(model)
    with pytest.raises(ModelConfigError, match=re.escape("1 = Opaque: cannot tell its number of channels; allowed: "
                                                         "a norm with one of normalized_shape, num_features")):
        normbench.convert(model, "dyt", classes={Opaque: "channels_last"})
    assert_unchanged(model, before)


def test_layernorm_over_more_than_one_dim_is_a_named_error():
    model = nn.Sequential(nn.LayerNorm([C, 4]))
    with pytest.raises(ModelConfigError, match=re.escape("0 = LayerNorm normalizes over (8, 4), not one channel dim")):
        normbench.convert(model, "dyt")


# ---- bad input changes nothing ------------------------------------------------------------

BAD = [
    (("foo",), {}, NormConfigError, "norm.name = 'foo' is unknown; allowed: "),
    (("dyt",), {"alpha0": -1.0}, NormConfigError, "norm.alpha0 = -1.0 is not allowed: must be a number > 0"),
    (("dyt",), {"alpha": 0.5}, NormConfigError, "norm.alpha = 0.5 is not a known option; allowed: alpha0"),
    (("dyt",), {"squash": "relu"}, NormConfigError, "norm.squash = 'relu' is unknown"),
    (("dyt",), {"classes": {nn.LayerNorm: "nchw"}}, ModelConfigError,
     "classes[LayerNorm] = 'nchw' is unknown; allowed: channels_last, channels_first"),
    (("dyt",), {"classes": {"LayerNorm": "channels_last"}}, ModelConfigError,
     "classes key 'LayerNorm' is not allowed: must be an nn.Module subclass"),
    (("dyt",), {"stock": "yes"}, ModelConfigError, "stock = 'yes' is not allowed: must be a bool"),
    # groupnorm fits the BatchNorm2d and GroupNorm places, not the LayerNorm one: built first, so
    # the places before the misfit are not changed either
    (("groupnorm",), {"num_groups": 2}, NormConfigError,
     "norm=groupnorm needs layout channels_first (feature maps with spatial dims); this place has channels_last "
     "(at blocks.1, a LayerNorm)"),
    (("groupnorm",), {"num_groups": 3}, NormConfigError, "norm.num_groups = 3 does not divide the 8 channels"),
]


@pytest.mark.parametrize("args,kwargs,error,message", BAD, ids=[m[:40] for *_, m in BAD])
def test_bad_input_is_a_named_error_and_changes_nothing(args, kwargs, error, message):
    model = Net()
    before = snapshot(model)
    with pytest.raises(error, match=re.escape(message)):
        normbench.convert(model, *args, **kwargs)
    assert_unchanged(model, before)
    assert issubclass(error, InputError)


def test_a_conditional_norm_or_a_bare_norm_is_refused():
    from normbench.norms import norm_names, norm_class

    conditional = [n for n in norm_names() if getattr(norm_class(n), "conditional", False)]
    for name in conditional:  # adaln, adaln_zero: forward(x, c)
        with pytest.raises(NormConfigError, match=f"norm.name = '{name}' takes a conditioning vector"):
            normbench.convert(Net(), name)
    with pytest.raises(ModelConfigError, match="model = LayerNorm is itself a norm layer"):
        normbench.convert(nn.LayerNorm(C), "dyt")


def test_import_normbench_stays_light():
    code = "import sys, normbench; assert callable(normbench.convert); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
