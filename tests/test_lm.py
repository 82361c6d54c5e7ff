"""task=lm in the shared loop: metrics (loss, bits per byte, tokens/s), best = lowest val loss,
probes on the llama's norms, the LLaMA optimizer preset, exact resume, task/model mismatches."""

from __future__ import annotations

import math
import re

import pytest
import torch

from normbench.errors import DataError, InputError
from normbench.models import ModelConfigError
from normbench.track import read_metrics
from normbench.train import train
from normbench.train.lm import LMTask
from normbench.train.optim import build_optimizer


def test_an_lm_run_writes_loss_bits_per_byte_and_tokens_per_second(tiny_lm_cfg, tmp_path):
    summary = train(tiny_lm_cfg(), tmp_path / "run")
    assert summary["status"] == "ok" and summary["run"]["task"] == "lm"
    val = read_metrics(tmp_path / "run" / "metrics.jsonl", split="val")
    assert [e["step"] for e in val] == [3, 6]
    for e in val:
        assert e["bpb"] == pytest.approx(e["loss"] / math.log(2))
    best = min(val, key=lambda e: e["loss"])  # lower is better
    assert summary["best"] == {"metric": "val/loss", "value": best["loss"], "step": best["step"],
                               "metrics": {"val/loss": best["loss"], "val/bpb": best["bpb"]}}
    assert set(summary["final"]) == {"val/loss", "val/bpb", "train/loss"}  # text has no test split
    for e in read_metrics(tmp_path / "run" / "metrics.jsonl", split="train"):
        assert e["tokens_per_s"] == pytest.approx(e["samples_per_s"] * 16)  # context_length tokens a sequence
        assert e["bpb"] == pytest.approx(e["loss"] / math.log(2))
    assert summary["throughput"]["unit"] == "tokens/s" and summary["throughput"]["value"] > 0
    probes = [line for line in (tmp_path / "run" / "probes.jsonl").read_text().splitlines() if '"stats"' in line]
    assert any('"layers.0.attention_norm"' in line and '"alpha"' in line for line in probes)


def test_the_llama_optimizer_preset_decays_every_parameter(tiny_lm_cfg):
    cfg = tiny_lm_cfg()
    assert (list(cfg.optim.betas), cfg.optim.weight_decay, cfg.optim.grad_clip, cfg.optim.min_lr_ratio) == \
        ([0.9, 0.95], 0.1, 1.0, 0.1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    opt = build_optimizer(model, cfg.optim)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.1 for p in g["params"]}
    assert decayed == {id(p) for p in model.parameters()}  # alpha, norm weights and biases included


@pytest.mark.parametrize("overrides, message", [
    (["task=classify", "model=llama", "data=shakespeare"],
     "model=llama needs task=lm, not task=classify; models for task=classify: convnext, resnet"),
    (["model=vit"], "model=vit needs task=classify, not task=lm; models for task=lm: llama"),
    (["data=fashion_mnist_mini"], "data.name = 'fashion_mnist_mini' is not a text data set"),
])
def test_task_model_and_data_mismatches_are_named_errors(tiny_lm_cfg, tmp_path, overrides, message):
    with pytest.raises(InputError, match=message):
        train(tiny_lm_cfg(*overrides), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_model_task_check_is_a_model_config_error(tiny_lm_cfg, tmp_path):
    with pytest.raises(ModelConfigError):
        train(tiny_lm_cfg("model=vit"), tmp_path)


def test_the_progress_bar_shows_each_tasks_throughput_and_val_metrics(tiny_cfg, tiny_lm_cfg, tmp_path, monkeypatch):
    from normbench.track.progress import Progress

    shown, real = [], Progress.update

    def update(self, step, **values):
        shown.append(values)
        return real(self, step, **values)

    monkeypatch.setattr(Progress, "update", update)
    train(tiny_lm_cfg(), tmp_path / "lm")
    assert set().union(*shown) == {"loss", "tokens/s", "val loss", "val bpb"}
    vals = [v[k] for v in shown for k in ("val loss", "val bpb") if k in v]
    assert vals and all(re.fullmatch(r"\d+\.\d{4}", v) for v in vals), vals  # 8.0 reads 8.0000, never "8"
    shown.clear()
    train(tiny_cfg(), tmp_path / "classify")
    assert set().union(*shown) == {"loss", "images/s", "val acc1", "test acc1"}


def test_data_train_bytes_cuts_the_training_split_of_a_run(tiny_lm_cfg, tmp_path):
    cpu = torch.device("cpu")
    whole, cut = LMTask.from_config(tiny_lm_cfg(), cpu), LMTask.from_config(tiny_lm_cfg("data.train_bytes=1000"), cpu)
    assert len(cut.data.train) == 1000 and bytes(cut.data.train) == bytes(whole.data.train[:1000])
    assert bytes(cut.data.val) == bytes(whole.data.val)
    for _ in range(20):  # every training window lies in the first 1000 bytes
        x, _ = cut.next_batch()
        assert all(bytes(row.numpy().astype("uint8")) in bytes(cut.data.train) for row in x)
    for bad in (16, 0):  # context_length 16 needs 17 bytes
        with pytest.raises(DataError, match=rf"^data.train_bytes = {bad} is not allowed: must be null") as info:
            train(tiny_lm_cfg(f"data.train_bytes={bad}"), tmp_path / "run")
        assert "context_length + 1 = 17" in str(info.value) and "\n" not in str(info.value)
        assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_test_split_is_measured_beside_validation_and_never_selected_on(tiny_lm_cfg, tmp_path):
    summary = train(tiny_lm_cfg("data.test_fraction=0.05"), tmp_path / "run")
    val = read_metrics(tmp_path / "run" / "metrics.jsonl", split="val")
    test = read_metrics(tmp_path / "run" / "metrics.jsonl", split="test")
    assert [e["step"] for e in test] == [e["step"] for e in val] == [3, 6]
    assert all(t["loss"] != v["loss"] for t, v in zip(test, val))  # other bytes
    for e in test:
        assert e["bpb"] == pytest.approx(e["loss"] / math.log(2))
    best = min(val, key=lambda e: e["loss"])
    assert summary["best"]["metric"] == "val/loss" and summary["best"]["step"] == best["step"]
    assert {"test/loss", "test/bpb", "val/loss", "val/bpb"} <= set(summary["final"])
    task = LMTask.from_config(tiny_lm_cfg("data.test_fraction=0.05"), torch.device("cpu"))
    n = len(task.data.train) + len(task.data.val) + len(task.data.test)
    assert len(task.data.test) == int(n * 0.05) and len(task.data.val) == int(n * 0.1)
