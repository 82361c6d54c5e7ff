"""data.val_split: a validation split carved from the training set (selection) beside the test set
(reported): its sizes, its stratification, its disjointness from what is trained on, its
independence from trainer.seed and the rank, val and test in the run folder, and the named error."""

from __future__ import annotations

import re

import pytest
import torch
import yaml

from conftest import CONFIGS

from normbench.data import DataError, load_image_data, load_image_data_from_config
from normbench.data.val_split import DEFAULTS, carve, class_counts, val_indices
from normbench.dist import Dist
from normbench.track import read_metrics, read_summary
from normbench.train import train
from normbench.train.classify import ClassifyTask


def _keys(images: torch.Tensor) -> list[bytes]:
    """One key per image: its bytes (synthetic images are pixel noise, so no two are alike)."""
    return [bytes(x.flatten().tolist()) for x in images]


def test_class_counts_are_each_class_share_rounded_by_largest_remainder():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    assert class_counts(labels, 3, 10) == [5, 3, 2]  # exact shares
    # 7 * (0.5, 0.3, 0.2) = 3.5, 2.1, 1.4: floors 3, 2, 1 and the one left to the largest remainder (class 0)
    assert class_counts(labels, 3, 7) == [4, 2, 1]
    # equal remainders: the lower class index first; a class with no images gives none
    assert class_counts(torch.tensor([0, 1, 3]), 4, 2) == [1, 1, 0, 0]


def test_the_default_split_of_the_shipped_subset_is_1000_stratified_and_nested():
    raw = load_image_data("fashion_mnist_mini")
    data = load_image_data_from_config({"name": "fashion_mnist_mini"})  # null: the data set's default
    assert len(data.val_y) == 1000 and len(data.train_y) == 9000 and len(data.test_y) == len(raw.test_y)
    assert torch.bincount(data.val_y, minlength=10).tolist() == [100] * 10  # 1000 a class in the source
    assert torch.bincount(data.train_y, minlength=10).tolist() == [900] * 10
    held = val_indices(raw.train_y, 10, 1000)
    assert torch.equal(data.val_x, raw.train_x[held]) and torch.equal(data.val_y, raw.train_y[held])
    rest = torch.ones(len(raw.train_y), dtype=torch.bool)
    rest[held] = False
    assert torch.equal(data.train_x, raw.train_x[rest])  # the rest, in the source's order
    assert set(val_indices(raw.train_y, 10, 500).tolist()) < set(held.tolist())  # a smaller split is inside
    # the test set is untouched, and the split draws on no global RNG
    assert torch.equal(data.test_x, raw.test_x)
    torch.manual_seed(123)
    assert torch.equal(val_indices(raw.train_y, 10, 1000), held)


def test_each_data_sets_yaml_states_its_default():
    for name, default in DEFAULTS.items():
        assert yaml.safe_load((CONFIGS / "data" / f"{name}.yaml").read_text())["val_split"] == default, name
    for name in ("shakespeare", "text"):  # text keeps its own split (data.val_fraction)
        assert "val_split" not in yaml.safe_load((CONFIGS / "data" / f"{name}.yaml").read_text())


def test_the_split_is_the_same_for_every_seed_and_rank_and_never_trained_on(tiny_cfg):
    cfg = tiny_cfg()
    tasks = [ClassifyTask(cfg.data, torch.device("cpu"), seed=seed, dist=Dist(rank=rank, world_size=2))
             for seed in (0, 7) for rank in (0, 1)]
    first = tasks[0].data
    for task in tasks[1:]:
        assert torch.equal(task.data.val_x, first.val_x) and torch.equal(task.data.train_x, first.train_x)
    raw = load_image_data("synthetic")
    assert len(first.val_y) == 64 and len(first.train_y) == 512 - 64
    val = set(_keys(first.val_x))
    assert len(val) == 64 and not val & set(_keys(first.train_x))
    assert val | set(_keys(first.train_x)) == set(_keys(raw.train_x))  # carved from the training set
    # what each rank's stream actually trains on, over two epochs: never a val image
    for task in tasks:
        seen = set()
        for _ in range(2 * task.stream.batches_per_epoch):
            seen |= set(_keys(next(task.stream)[0]))
        assert seen and not seen & val


def test_a_run_logs_val_and_test_and_selects_on_val(tiny_cfg, tmp_path):
    train(tiny_cfg("trainer.eval_every=2"), tmp_path)
    val = read_metrics(tmp_path / "metrics.jsonl", split="val")
    test = read_metrics(tmp_path / "metrics.jsonl", split="test")
    assert [e["step"] for e in val] == [e["step"] for e in test] == [2, 4, 6]
    assert all({"loss", "acc1"} <= set(e) for e in val + test)
    best = max(val, key=lambda e: e["acc1"])  # the first of equals: a later one must beat it
    at_best = {e["step"]: e for e in test}[best["step"]]
    on_disk = read_summary(tmp_path / "summary.json")
    assert on_disk["best"]["metric"] == "val/acc1" and on_disk["best"]["step"] == best["step"]
    assert on_disk["best"]["metrics"]["test/acc1"] == at_best["acc1"]
    assert on_disk["final"]["val/loss"] == val[-1]["loss"] and on_disk["final"]["test/loss"] == test[-1]["loss"]


def test_val_split_0_trains_on_every_image_and_selects_on_test_by_name(tiny_cfg, tmp_path, caplog):
    caplog.set_level("WARNING")
    summary = train(tiny_cfg("data.val_split=0"), tmp_path)
    assert not read_metrics(tmp_path / "metrics.jsonl", split="val")
    test = read_metrics(tmp_path / "metrics.jsonl", split="test")
    assert [e["step"] for e in test] == [3, 6]
    assert summary["best"]["metric"] == "test/acc1" and summary["best"]["value"] == max(e["acc1"] for e in test)
    assert set(summary["final"]) == {"test/loss", "test/acc1", "train/loss"}
    assert "best is selected on the test set" in caplog.text


@pytest.mark.parametrize("value", ["-1", "512"])
def test_a_bad_val_split_is_a_named_error_before_training(tiny_cfg, tmp_path, value):
    message = (f"data.val_split = {value} is not allowed; allowed: null (the data set's default, 64), 0 (no "
               "validation split: best is selected on the test set) or an int from 1 to 511 (fewer than the 512 "
               "training images of data.name = 'synthetic')")
    with pytest.raises(DataError, match=re.escape(message)):
        train(tiny_cfg(f"data.val_split={value}"), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_default_that_does_not_fit_names_itself_and_text_data_refuse_it(tiny_lm_cfg, tmp_path):
    with pytest.raises(DataError, match=re.escape("data.val_split = null (the data set's default, 64) is not "
                                                  "allowed; allowed: 0 (no validation split")):
        load_image_data_from_config({"name": "synthetic", "synthetic": {"train_size": 40}})
    assert len(carve(load_image_data("synthetic", train_size=40), 8).val_y) == 8
    with pytest.raises(DataError, match=re.escape("data.val_split = 5 does not apply to text data")):
        train(tiny_lm_cfg("data.val_split=5"), tmp_path)


def test_wandb_gets_val_and_test_series_and_the_summary(tiny_cfg, tmp_path, monkeypatch):
    import wandb

    logged, runs = {}, []

    class Recorder:
        id, mode = "rec", "offline"

        def __init__(self):
            self.summary = {}
            runs.append(self)

        def log(self, metrics, step):
            logged.setdefault(step, {}).update(metrics)

        def finish(self, exit_code=0):
            pass

    monkeypatch.setattr(wandb, "init", lambda mode, **kwargs: Recorder())
    summary = train(tiny_cfg("logger.wandb.mode=offline"), tmp_path)
    for step in (3, 6):
        assert {"val/loss", "val/acc1", "test/loss", "test/acc1"} <= set(logged[step]), step
    (run,) = runs
    assert run.summary["best"] == summary["best"] and set(run.summary["final"]) >= {"val/acc1", "test/acc1"}
