"""The shared loop: optimizer groups, schedule, run-folder files, divergence guard, exact resume, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from normbench.data import DataError
from normbench.errors import InputError
from normbench.models import ModelConfigError
from normbench.norms import build_norm
from normbench.track import read_metrics, read_summary
from normbench.train import CheckpointError, OptimConfigError, TrainerConfigError, train
from normbench.train.checkpoint import load_checkpoint, resolve_checkpoint
from normbench.train.classify import ClassifyTask
from normbench.train.optim import build_optimizer, lr_factor


def test_no_weight_decay_on_1d_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), build_norm("dyt", 8), torch.nn.Linear(8, 2))
    opt = build_optimizer(model, {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05, "betas": [0.9, 0.999],
                                  "warmup_steps": 0, "min_lr_ratio": 0.0, "schedule": "cosine", "grad_clip": None})
    decay = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decay) == (p.ndim >= 2), name  # alpha, norm weight/bias and biases: no decay


def test_lr_schedule_warmup_then_cosine():
    f = [lr_factor(s, max_steps=110, warmup_steps=10, min_lr_ratio=0.1, schedule="cosine") for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)  # linear warmup to the peak
    assert f[10] == pytest.approx(1.0)
    assert f[60] == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the cosine
    assert lr_factor(110, 110, 10, 0.1, "cosine") == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


def test_run_writes_the_run_folder(tiny_cfg, tmp_path):
    summary = train(tiny_cfg(), tmp_path)
    assert summary["status"] == "ok" and summary["step"] == 6
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "checkpoint.pt"):
        assert (tmp_path / name).is_file(), name
    assert read_summary(tmp_path / "summary.json") == json.loads(json.dumps(summary))
    val = read_metrics(tmp_path / "metrics.jsonl", split="val")
    assert [e["step"] for e in val] == [3, 6]
    test = read_metrics(tmp_path / "metrics.jsonl", split="test")  # reported beside val at each evaluation
    assert [e["step"] for e in test] == [3, 6]
    best = max(val, key=lambda e: e["acc1"])  # selected on val, the test metrics of that step carried along
    at_best = next(e for e in test if e["step"] == best["step"])
    assert summary["best"] == {"metric": "val/acc1", "value": best["acc1"], "step": best["step"],
                               "metrics": {"val/loss": best["loss"], "val/acc1": best["acc1"],
                                           "test/loss": at_best["loss"], "test/acc1": at_best["acc1"]}}
    assert summary["final"]["val/acc1"] == val[-1]["acc1"] and summary["final"]["test/acc1"] == test[-1]["acc1"]
    train_events = read_metrics(tmp_path / "metrics.jsonl", split="train")
    assert [e["step"] for e in train_events] == [2, 4, 6]
    assert all({"loss", "lr", "samples_per_s", "samples", "train_time_s"} <= set(e) for e in train_events)
    assert [e["samples"] for e in train_events] == [2 * 64, 4 * 64, 6 * 64]
    assert summary["throughput_samples_per_s"] > 0 and summary["wall_time_s"] > 0


def test_learns_the_synthetic_task(tiny_cfg, tmp_path):
    cfg = tiny_cfg("norm=layernorm", "data.augment.crop_padding=0", "model.embed_dim=32", "trainer.max_steps=80",
                   "trainer.eval_every=80", "optim.warmup_steps=5")
    summary = train(cfg, tmp_path)
    assert summary["best"]["value"] > 40.0  # chance is 10 %; this setting reached 72 %


def test_divergence_guard_keeps_best_and_files(tiny_cfg, tmp_path):
    # A loss bound below any real loss: the first guard ends the run as diverged. That is the
    # checkpoint at step 3 (ckpt_every=3), before the first log at step 4: the guard checks the
    # unlogged loss before every checkpoint, so no diverged checkpoint is ever written.
    cfg = tiny_cfg("trainer.max_loss=1e-3", "trainer.log_every=4", "trainer.eval_every=2")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "diverged"
    assert summary["diverged"]["step"] == 3 and summary["step"] == 3
    assert not (tmp_path / "checkpoint.pt").exists()
    assert summary["best"]["value"] is not None and summary["best"]["step"] == 2
    assert read_summary(tmp_path / "summary.json")["status"] == "diverged"


def test_nan_loss_is_diverged(tiny_cfg, tmp_path):
    summary = train(tiny_cfg("optim.lr=1e30", "optim.warmup_steps=0", "trainer.max_steps=20", "trainer.eval_every=20"),
                    tmp_path)
    assert summary["status"] == "diverged"
    assert summary["diverged"]["loss"] in ("nan", "inf") or not math.isfinite(float(summary["diverged"]["loss"])) \
        or float(summary["diverged"]["loss"]) > 100


def test_bad_resume_path_and_corrupt_checkpoint(tiny_cfg, tmp_path):
    with pytest.raises(CheckpointError, match="trainer.resume"):
        resolve_checkpoint(str(tmp_path / "nowhere"), tmp_path)
    assert resolve_checkpoint(True, tmp_path) is None  # nothing to resume yet: start fresh
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(tiny_cfg("trainer.resume=true"), tmp_path)
    assert bad.read_bytes() == b"not a checkpoint"  # nothing written is lost


class _RunsCode:
    """A pickle payload: loading it with weights_only=False would write `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (self.marker.__class__.write_text, (self.marker, "code ran"))


def test_a_checkpoint_that_would_run_code_is_refused_unread(tiny_cfg, tmp_path):
    marker = tmp_path / "marker"
    evil = tmp_path / "run" / "checkpoint.pt"
    evil.parent.mkdir()
    torch.save({"format_version": 2, "step": 3, "model": _RunsCode(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused unread") as info:
        train(tiny_cfg("trainer.resume=true"), tmp_path / "run")
    assert str(evil) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()  # weights_only=True: the payload never ran
    with pytest.raises(CheckpointError, match="refused unread"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_checkpoints_load_with_weights_only(tiny_cfg, tmp_path):
    train(tiny_cfg(), tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # plain containers and tensors only
    assert state["format_version"] == 2 and isinstance(state["rng"]["numpy"][1], list)


def test_a_format_1_checkpoint_still_resumes(tiny_cfg, tmp_path):
    import numpy as np

    train(tiny_cfg("trainer.max_steps=3"), tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    name, keys, *rest = state["rng"]["numpy"]
    state["rng"]["numpy"] = (name, np.asarray(keys, dtype=np.uint32), *rest)  # as format 1 stored it
    torch.save({**state, "format_version": 1}, tmp_path / "checkpoint.pt")
    (tmp_path / "summary.json").unlink()  # not "ok": resume it
    assert train(tiny_cfg("trainer.resume=true"), tmp_path)["step"] == 6


@pytest.mark.parametrize("override, error, key", [
    ("optim.lr=-1", OptimConfigError, "optim.lr"),
    ("optim.name=adagrad9", OptimConfigError, "optim.name"),
    ("trainer.precision=fp8", TrainerConfigError, "trainer.precision"),
    ("trainer.max_steps=0", TrainerConfigError, "trainer.max_steps"),
    ("task.name=segment", TrainerConfigError, "task.name"),
])
def test_bad_values_name_key_value_and_allowed(tiny_cfg, tmp_path, override, error, key):
    with pytest.raises(error, match=key) as info:
        train(tiny_cfg(override), tmp_path)
    assert isinstance(info.value, InputError)  # train.py prints it as one line, no traceback
    assert override.split("=")[1] in str(info.value)
    assert "allowed" in str(info.value) or "must be" in str(info.value)
    assert not (tmp_path / "metrics.jsonl").exists()  # failed before any training


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_label_smoothing_reaches_the_classification_loss_from_the_task_group(tiny_cfg, smoothing):
    import torch.nn.functional as F

    cpu = torch.device("cpu")
    assert ClassifyTask.from_config(tiny_cfg(), cpu).label_smoothing == 0.1  # the default run's
    task = ClassifyTask.from_config(tiny_cfg(f"task.label_smoothing={smoothing}"), cpu)
    x, y = task.next_batch()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), task.data.num_classes))
    logp = torch.log_softmax(model(x), dim=-1)
    # written out: (1 - e) * the target's negative log-likelihood + e * the mean over the classes
    expected = ((1 - smoothing) * -logp.gather(1, y[:, None])[:, 0] - smoothing * logp.mean(dim=-1)).mean()
    loss = task.loss(model, (x, y))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx(F.cross_entropy(model(x), y, label_smoothing=smoothing).item(), rel=1e-6)
    if smoothing:
        assert loss.item() != pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-3)


@pytest.mark.parametrize("saved_task, error", [("classify", None), ("lm", "task.name = 'classify' but checkpoint")])
def test_a_checkpoint_saved_when_task_was_a_string(tiny_cfg, tmp_path, saved_task, error):
    # before the task group, config had task: classify and trainer.label_smoothing; the task's
    # name is still compared, and another label smoothing (not a model change) resumes
    train(tiny_cfg("trainer.max_steps=3"), tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    config = state["config"]
    config["trainer"]["label_smoothing"] = config.pop("task")["label_smoothing"]
    config["task"] = saved_task
    torch.save(state, tmp_path / "checkpoint.pt")
    (tmp_path / "summary.json").unlink()  # not "ok": resume it
    if error is None:
        assert train(tiny_cfg("trainer.resume=true", "task.label_smoothing=0.2"), tmp_path)["step"] == 6
    else:
        with pytest.raises(CheckpointError, match=error):
            train(tiny_cfg("trainer.resume=true"), tmp_path)


def test_norm_that_does_not_fit_the_model_fails_before_training(tiny_cfg, tmp_path):
    with pytest.raises(ModelConfigError, match="norm=groupnorm does not fit model=vit") as info:
        train(tiny_cfg("norm=groupnorm"), tmp_path)
    assert "layernorm" in str(info.value)  # it says which norms fit
    assert not (tmp_path / "metrics.jsonl").exists()


def test_missing_data_fails_before_training_naming_the_places(tiny_cfg, tmp_path, monkeypatch):
    from normbench.data import paths

    monkeypatch.setattr(paths, "DEBIAN_FASHION_MNIST", tmp_path / "no_debian")
    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "no_cache")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        train(tiny_cfg("data=fashion_mnist", f"data.root={tmp_path / 'empty'}"), tmp_path / "run")
    assert str(tmp_path / "empty") in str(info.value)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_fresh_run_never_overwrites_a_run_folder(tiny_cfg, tmp_path):
    train(tiny_cfg(), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(TrainerConfigError, match="already holds a run") as info:
        train(tiny_cfg("trainer.max_steps=8"), tmp_path)
    assert "trainer.resume=true" in str(info.value)
    assert before == {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
