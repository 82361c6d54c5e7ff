"""Memory and speed options on tiny models: gradient checkpointing gives the same loss and
gradients as keeping activations; bf16 and fp16 autocast train on the CPU (fp16 with a
GradScaler); a compiled forward trains like the eager one and probes still run."""

from __future__ import annotations

import copy
import functools
import json
import os

import pytest
import torch
import torch.nn.functional as F

from conftest import TINY, TINY_LM, compose_cfg
from normbench.config.schema import TrainerConfig
from normbench.models import build_model
from normbench.train import train
from normbench.train.checkpoint import load_checkpoint
from normbench.train.runtime import autocast

# model config, norm, sizes, a block whose forward a checkpointed backward runs again
MODELS = {
    "vit": ({"name": "vit", "patch_size": 4, "embed_dim": 16, "depth": 2, "num_heads": 2}, "dyt",
            {"num_classes": 5, "in_chans": 3, "img_size": 16}, "blocks.0"),
    "convnext": ({"name": "convnext", "depths": [1, 1], "dims": [8, 16]}, "layernorm",
                 {"num_classes": 5, "in_chans": 3, "img_size": 16}, "stages.0.blocks.0"),
    "resnet": ({"name": "resnet", "layers": [1, 1, 1, 1], "channels": [8, 8, 16, 16], "stem_width": 8}, "dyt",
               {"num_classes": 5, "in_chans": 3, "img_size": 16}, "layer1.0"),
    "llama-pre": ({"name": "llama", "embed_dim": 16, "depth": 2, "num_heads": 2}, "dyt",
                  {"vocab_size": 256, "context_length": 16}, "layers.0"),
    "llama-post": ({"name": "llama", "embed_dim": 16, "depth": 2, "num_heads": 2, "norm_position": "post"},
                   "rmsnorm", {"vocab_size": 256, "context_length": 16}, "layers.0"),
}


def loss_and_grads(model, x, y):
    out = model(x)
    loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", MODELS)
def test_grad_checkpointing_gives_the_same_loss_and_gradients(name):
    model_cfg, norm, sizes, block = MODELS[name]
    torch.manual_seed(0)
    plain = build_model(model_cfg, {"name": norm, "alpha0": 0.7}, **sizes).train()
    ckpt = copy.deepcopy(plain)
    ckpt.set_grad_checkpointing(True)
    if "vocab_size" in sizes:
        x = torch.randint(0, 256, (3, 16))
        y = torch.randint(0, 256, (3, 16))
    else:
        x, y = torch.randn(3, 3, 16, 16), torch.randint(0, 5, (3,))

    # it is on: the checkpointed block's forward starts again in the backward pass (a pre-hook:
    # the recomputation stops as soon as it has what the backward needs, before any forward hook)
    calls = []
    ckpt.get_submodule(block).register_forward_pre_hook(lambda *a: calls.append(1))
    loss_a, grads_a = loss_and_grads(plain, x, y)
    loss_b, grads_b = loss_and_grads(ckpt, x, y)
    assert len(calls) == 2, f"{name}: the block ran {len(calls)} times; checkpointing is not on"

    torch.testing.assert_close(loss_b, loss_a, rtol=1e-6, atol=1e-6)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == len(list(plain.parameters()))
    for key in grads_a:
        torch.testing.assert_close(grads_b[key], grads_a[key], rtol=1e-5, atol=1e-6, msg=key)
    # no_grad (evaluation, probes): no checkpointing, the same output
    with torch.no_grad():
        torch.testing.assert_close(ckpt.eval()(x), plain.eval()(x))
    ckpt.set_grad_checkpointing(False)
    calls.clear()
    loss_and_grads(ckpt.train(), x, y)
    assert len(calls) == 1


def train_losses(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [e["loss"] for e in lines if e["split"] == "train"]


# 12 steps at a real lr, logged every step: the precisions must track fp32's curve
PRECISION_RUN = ["trainer.max_steps=12", "trainer.log_every=1", "trainer.eval_every=6", "trainer.ckpt_every=6",
                 "optim.lr=1e-2", "optim.warmup_steps=1", "probe.enabled=false"]


@pytest.fixture(scope="module")
def fp32_losses(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("fp32")
    train(compose_cfg([*TINY, *PRECISION_RUN]), run_dir)
    return train_losses(run_dir)


def test_autocast_casts_on_the_cpu():
    linear, x = torch.nn.Linear(4, 4), torch.randn(2, 4)
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with autocast(torch.device("cpu"), precision):
            assert linear(x).dtype == dtype, precision


def test_bf16_trains_on_the_cpu_close_to_fp32(tmp_path, fp32_losses):
    summary = train(compose_cfg([*TINY, *PRECISION_RUN, "trainer.precision=bf16"]), tmp_path)
    assert summary["status"] == "ok"
    losses = train_losses(tmp_path)
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < losses[0] - 0.05  # it learns (fp32 falls by 0.098 here: half of that, with margin)
    # bf16 keeps 8 bits of mantissa: the curve follows fp32's, not exactly
    assert losses == pytest.approx(fp32_losses, abs=1e-2) and losses != fp32_losses
    assert load_checkpoint(tmp_path / "checkpoint.pt")["scaler"] == {}  # bf16 needs no loss scaling


def test_fp16_trains_on_the_cpu_with_a_grad_scaler(tmp_path, fp32_losses):
    summary = train(compose_cfg([*TINY, *PRECISION_RUN, "trainer.precision=fp16"]), tmp_path)
    assert summary["status"] == "ok"
    losses = train_losses(tmp_path)
    assert losses == pytest.approx(fp32_losses, abs=2e-3) and losses != fp32_losses
    scaler = load_checkpoint(tmp_path / "checkpoint.pt")["scaler"]
    # the GradScaler ran (torch.amp.GradScaler("cpu")); no step overflowed, so none was skipped
    assert scaler["scale"] == 2.0 ** 16 and scaler["_growth_tracker"] == 12


def compiled_run(tmp_path, base, backend):
    if backend != "inductor":  # the loop calls torch.compile(model); pick a backend that needs no C compiler
        real = torch.compile
        torch.compile = functools.partial(real, backend=backend)
    try:
        eager, compiled = tmp_path / "eager", tmp_path / "compiled"
        train(compose_cfg([*base, "trainer.log_every=1"]), eager)
        summary = train(compose_cfg([*base, "trainer.log_every=1", "trainer.compile=true"]), compiled)
    finally:
        if backend != "inductor":
            torch.compile = real
        torch._dynamo.reset()
    assert summary["status"] == "ok"
    assert train_losses(compiled) == pytest.approx(train_losses(eager), rel=1e-5)
    # probes hook the eager model, which the compiled forward shares its weights with
    probes = [json.loads(line) for line in (compiled / "probes.jsonl").read_text().splitlines()]
    assert {p["step"] for p in probes if p.get("kind") == "stats"} >= {0, 6}


@pytest.mark.train
@pytest.mark.parametrize("base", [TINY, TINY_LM], ids=["vit", "llama"])
def test_compiled_forward_trains_like_the_eager_one(tmp_path, base, request):
    if base is TINY_LM:
        request.getfixturevalue("tiny_lm_cfg")  # the corpus cache in tmp_path
    # aot_eager: dynamo's graph capture and AOT autograd, the parts that change the training
    # semantics, in a few seconds; inductor's code generation is the test below.
    compiled_run(tmp_path, base, "aot_eager")


@pytest.mark.skipif(os.environ.get("NORMBENCH_TEST_COMPILE") != "1",
                    reason="inductor compiles C++ with gcc: 65-80 s per tiny model on 2 CPU cores with a cold "
                           "cache; set NORMBENCH_TEST_COMPILE=1 to run it")
def test_compile_with_inductor(tmp_path):
    compiled_run(tmp_path, TINY, "inductor")


@pytest.mark.skipif("grad_checkpointing" not in TrainerConfig.__dataclass_fields__,
                    reason="trainer.grad_checkpointing is not in the schema yet")
@pytest.mark.parametrize("base", [TINY, TINY_LM], ids=["vit", "llama"])
def test_trainer_grad_checkpointing_trains_the_same_run(tmp_path, base, request):
    if base is TINY_LM:
        request.getfixturevalue("tiny_lm_cfg")
    plain, ckpt = tmp_path / "plain", tmp_path / "ckpt"
    train(compose_cfg([*base, "trainer.log_every=1"]), plain)
    summary = train(compose_cfg([*base, "trainer.log_every=1", "trainer.grad_checkpointing=true"]), ckpt)
    assert summary["status"] == "ok"
    assert train_losses(ckpt) == pytest.approx(train_losses(plain), rel=1e-5)
