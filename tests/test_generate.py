"""task=generate in the shared loop: flow matching, the Euler sampler, val loss / judge_acc / fid,
sample grids in the run folder, the cached judge, exact resume, and the named errors."""

from __future__ import annotations

import re

import pytest
import torch

from conftest import TINY_GEN, compose_cfg

from normbench.data import paths
from normbench.errors import InputError, JudgeError, TrainerConfigError
from normbench.models import ModelConfigError, build_model
from normbench.track import read_metrics
from normbench.train import train
from normbench.train.generate import GenerateTask, grid_image, to_model_range, to_uint8

@pytest.fixture(scope="module")
def judge_cache(tmp_path_factory):
    """One data cache (and so one cached judge) for the whole file, not the user's home."""
    real = paths.DEFAULT_ROOT
    paths.DEFAULT_ROOT = tmp_path_factory.mktemp("data_cache")
    yield paths.DEFAULT_ROOT
    paths.DEFAULT_ROOT = real


@pytest.fixture
def gen_cfg(judge_cache):
    def make(*extra: str):
        return compose_cfg(TINY_GEN + list(extra))

    return make


def test_the_preset_selects_dit_adaln_zero_on_the_shipped_subset():
    # the shipped subset, so `python train.py task=generate` trains offline on a fresh machine
    cfg = compose_cfg(["task=generate"])
    assert (cfg.model.name, cfg.norm.name, cfg.data.name, cfg.task.name) == ("dit", "adaln_zero",
                                                                              "fashion_mnist_mini", "generate")
    assert compose_cfg(["task=generate", "data=fashion_mnist"]).data.name == "fashion_mnist"
    assert (cfg.optim.name, cfg.optim.weight_decay, cfg.norm.zero_init, cfg.task.judge) == ("adamw", 0.0, True, None)


def test_a_generate_run_writes_its_metrics_grids_and_probes(gen_cfg, tmp_path, caplog):
    caplog.set_level("INFO")
    summary = train(gen_cfg("norm.core=dyt"), tmp_path / "run")
    assert summary["status"] == "ok" and summary["run"]["task"] == "generate"
    val = read_metrics(tmp_path / "run" / "metrics.jsonl", split="val")
    assert [e["step"] for e in val] == [3, 6]
    for e in val:
        assert set(e) == {"step", "split", "loss", "fid", "judge_acc"}
        assert e["loss"] > 0 and e["fid"] >= 0 and 0 <= e["judge_acc"] <= 100
    best = min(val, key=lambda e: e["loss"])  # lower is better
    assert summary["best"] == {"metric": "val/loss", "value": best["loss"], "step": best["step"],
                               "metrics": {**{f"val/{k}": best[k] for k in ("loss", "fid", "judge_acc")},
                                           "test/loss": next(e["loss"] for e in read_metrics(
                                               tmp_path / "run" / "metrics.jsonl", split="test")
                                               if e["step"] == best["step"])}}
    test = read_metrics(tmp_path / "run" / "metrics.jsonl", split="test")  # beside the val split: loss alone
    assert [set(e) for e in test] == [{"step", "split", "loss"}] * 2 and [e["step"] for e in test] == [3, 6]
    assert all(t["loss"] > 0 and t["loss"] != v["loss"] for t, v in zip(test, val))
    assert summary["throughput"]["unit"] == "images/s" and summary["throughput"]["value"] > 0
    grids = sorted(p.name for p in (tmp_path / "run" / "images").iterdir())
    assert grids == ["val_samples_step000003.png", "val_samples_step000006.png"]
    from PIL import Image

    assert Image.open(tmp_path / "run" / "images" / grids[0]).size == (4 * 18 + 2, 10 * 18 + 2)  # 4 x 10 of 16 px
    probes = [line for line in (tmp_path / "run" / "probes.jsonl").read_text().splitlines() if '"stats"' in line]
    assert any('"blocks.0.norm1"' in line and '"adaln_zero"' in line and '"alpha"' in line for line in probes)
    assert any('"final_norm"' in line for line in probes)
    assert "judge" in caplog.text  # the log says where the judge comes from


def test_building_the_task_without_its_judge_prepared_is_a_named_error(gen_cfg, tmp_path, monkeypatch):
    """The judge is trained by train() before the task is built (GenerateTask.prepare, with the
    loop's train() passed in: judge.py never imports the loop); the task itself only loads it."""
    from normbench.errors import JudgeError

    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "empty_cache")
    with pytest.raises(JudgeError, match="task.judge = null and no judge is cached at .*GenerateTask.prepare"):
        GenerateTask.from_config(gen_cfg(), torch.device("cpu"))


def test_the_judge_is_trained_once_and_cached_by_its_config(gen_cfg, tmp_path, judge_cache):
    train(gen_cfg(), tmp_path / "a")
    (judge,) = (judge_cache / "judges").glob("synthetic-*")
    before = (judge / "metrics.jsonl").read_text()
    train(gen_cfg(), tmp_path / "b")
    assert (judge / "metrics.jsonl").read_text() == before  # loaded, not retrained
    train(gen_cfg("task.judge_steps=6"), tmp_path / "c")  # another recipe, another judge
    assert len(list((judge_cache / "judges").glob("synthetic-*"))) == 2
    # a judge named by path: the cached one's run folder
    summary = train(gen_cfg(f"task.judge={judge}"), tmp_path / "d")
    assert read_metrics(tmp_path / "d" / "metrics.jsonl", split="val") == \
        read_metrics(tmp_path / "a" / "metrics.jsonl", split="val")
    assert summary["status"] == "ok"


def test_a_missing_or_corrupt_judge_is_a_named_error(gen_cfg, tmp_path):
    with pytest.raises(JudgeError, match=re.escape(f"task.judge = '{tmp_path / 'nope'}' is not a folder; allowed: "
                                                   "a normbench classify run folder")):
        train(gen_cfg(f"task.judge={tmp_path / 'nope'}"), tmp_path / "run1")
    folder = tmp_path / "judge"
    folder.mkdir()
    (folder / "config.yaml").write_text("task: {name: classify}\n")
    with pytest.raises(JudgeError, match="has no checkpoint.pt"):
        train(gen_cfg(f"task.judge={folder}"), tmp_path / "run2")
    (folder / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(JudgeError, match=re.escape(f"task.judge = '{folder}' cannot be loaded")):
        train(gen_cfg(f"task.judge={folder}"), tmp_path / "run3")


@pytest.mark.parametrize("overrides, error, message", [
    (["norm=layernorm"], ModelConfigError, "norm=layernorm does not fit model=dit"),
    (["model=vit"], ModelConfigError, "model=vit needs task=classify, not task=generate; models for "
                                      "task=generate: dit"),
    (["task.sample_steps=0"], TrainerConfigError, "task.sample_steps = 0 is not allowed: must be an int >= 1"),
    (["task.class_dropout=1.0"], TrainerConfigError, "task.class_dropout = 1.0 is not allowed: must be in [0, 1)"),
    (["task.class_dropout=0.0", "task.guidance=2.0"], TrainerConfigError,
     "task.guidance = 2.0 is not allowed: needs task.class_dropout > 0"),
    (["task.eval_samples=20"], TrainerConfigError, "task.eval_samples = 20 is not allowed: the grid needs"),
])
def test_bad_config_is_a_named_error_before_the_judge(gen_cfg, tmp_path, judge_cache, overrides, error, message):
    judges = set((judge_cache / "judges").glob("*")) if (judge_cache / "judges").exists() else set()
    with pytest.raises(error, match=re.escape(message)):
        train(gen_cfg(*overrides, "task.judge_steps=7"), tmp_path)
    assert issubclass(error, InputError) and not (tmp_path / "metrics.jsonl").exists()
    if error is ModelConfigError:  # caught before the judge would be trained
        assert (set((judge_cache / "judges").glob("*")) if (judge_cache / "judges").exists() else set()) == judges


# ---- the flow, the sampler and the grid, by hand -----------------------------------------


def test_noised_is_the_straight_line_and_its_velocity():
    task = GenerateTask.__new__(GenerateTask)
    x0, noise = torch.full((2, 1, 2, 2), 0.5), torch.full((2, 1, 2, 2), -1.0)
    x_t, v = task.noised(x0, noise, torch.tensor([0.0, 0.25]))
    assert torch.equal(x_t[0], x0[0]) and torch.allclose(x_t[1], torch.full((1, 2, 2), 0.75 * 0.5 - 0.25))
    assert torch.equal(v, noise - x0)


def test_euler_on_the_exact_velocity_of_one_image_lands_on_it():
    # the flow to a single image x0 has velocity (x - x0) / t: Euler follows the straight line exactly
    task = GenerateTask.__new__(GenerateTask)
    task.sample_steps, task.guidance, task.num_classes = 4, 1.0, 10
    x0 = torch.linspace(-1, 1, 8).view(2, 1, 2, 2)
    noise = torch.randn(2, 1, 2, 2)
    out = task.sample(lambda x, t, y: (x - x0) / t.view(-1, 1, 1, 1), noise, torch.zeros(2, dtype=torch.long),
                      autocast=torch.no_grad)
    torch.testing.assert_close(out, x0)


def test_classifier_free_guidance_mixes_the_two_velocities():
    task = GenerateTask.__new__(GenerateTask)
    task.sample_steps, task.guidance, task.num_classes = 1, 3.0, 10

    def model(x, t, y):  # velocity 1 for a label, 0 for the null class
        return (y != 10).float().view(-1, 1, 1, 1).expand_as(x)

    out = task.sample(model, torch.zeros(2, 1, 2, 2), torch.tensor([1, 2]), autocast=torch.no_grad)
    assert torch.equal(out, torch.full((2, 1, 2, 2), -3.0))  # x - 1 * (0 + 3 * (1 - 0))


def test_pixel_ranges_and_the_grid_layout():
    x = torch.tensor([0, 255], dtype=torch.uint8)
    assert torch.equal(to_model_range(x), torch.tensor([-1.0, 1.0]))
    want = torch.tensor([0, 0, 255, 255], dtype=torch.uint8)
    assert torch.equal(to_uint8(torch.tensor([-2.0, -1.0, 1.0, 3.0])), want)
    images = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 1, 3, 3).contiguous()
    grid = grid_image(images, rows=2)
    assert grid.shape == (2 * 5 + 2, 3 * 5 + 2, 1)
    assert grid[2, 2, 0] == 0 and grid[2, 2 + 5, 0] == 1 and grid[2 + 5, 2, 0] == 3  # row-major


def test_the_tracker_writes_images_as_png_and_hands_them_to_wandb(tmp_path):
    import numpy as np
    from PIL import Image

    from normbench.track import Tracker

    class FakeWandb:
        id, logged = None, []

        def log_images(self, paths, step):
            self.logged.append((dict(paths), step))

        def finish(self, exit_code=0):
            pass

    wandb = FakeWandb()
    tracker = Tracker(tmp_path, wandb=wandb, total_steps=10, progress=False)
    grid = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    tracker.images(7, "val", {"samples": grid})
    path = tmp_path / "images" / "val_samples_step000007.png"
    assert np.array_equal(np.asarray(Image.open(path)), grid[..., 0])
    assert wandb.logged == [({"val/samples": path}, 7)]
    tracker.close()


def test_the_val_loss_and_fid_use_the_carved_val_split_and_the_judge_never_trains_on_it(gen_cfg, tmp_path,
                                                                                       monkeypatch):
    from normbench.train.judge import judge_config

    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "cache")  # its own judges: the shared cache keeps one
    cfg = gen_cfg()
    GenerateTask.prepare(cfg, train)  # what train() does first: the judge, trained and cached
    task = GenerateTask.from_config(cfg, torch.device("cpu"))
    assert task.selection_split == "val" and len(task.data.val_y) == 64  # data.val_split of synthetic.yaml
    assert torch.equal(task.val_images, task.data.val_x[:32]) and torch.equal(task.val_labels, task.data.val_y[:32])
    assert judge_config(cfg.data, 5, "cpu")["data"]["val_split"] == 64  # the judge holds out the same images
    # no split: the fixed set is the test set's, and its metrics say so by their name
    GenerateTask.prepare(gen_cfg("data.val_split=0"), train)
    none = GenerateTask.from_config(gen_cfg("data.val_split=0"), torch.device("cpu"))
    assert none.selection_split == "test" and torch.equal(none.val_images, none.data.test_x[:32])
    assert none.test_set is None  # the test set is the selection set already
    # beside the val split, the test loss: the same fixed noise and times over the first test images
    images, labels, noise, t = task.test_set
    assert torch.equal(images, task.data.test_x[:32]) and torch.equal(labels, task.data.test_y[:32])
    assert torch.equal(noise, task.val_noise) and torch.equal(t, task.val_t)
    model = build_model(cfg.model, cfg.norm, **task.model_kwargs()).eval()
    from contextlib import nullcontext

    got = task.evaluate(model, nullcontext)["test"]["loss"]
    x_t, target = task.noised(to_model_range(images), noise, t)
    with torch.no_grad():
        want = ((model(x_t, t, labels) - target) ** 2).flatten(1).mean(1).mean()
    assert float(got) == pytest.approx(float(want), rel=1e-5)
