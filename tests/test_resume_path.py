"""trainer.resume=<path>: a run continued in a new folder makes that folder whole on its own.

It records where it came from (summary.json `resumed_from`), carries the earlier folder's
metrics and probes up to the checkpoint's step (so its curves equal a run never stopped), and
is a new wandb run whose parent is the earlier one, never the earlier run's id reused.
"""

from __future__ import annotations

import pytest

from conftest import assert_same_run, at_batch, simulated_kill

from normbench.track import read_metrics, read_probes, read_summary
from normbench.train import train
from normbench.train.classify import ClassifyTask
from normbench.train.lm import LMTask


def _killed_at_step_4(make_cfg, task_cls, folder, monkeypatch):
    """A run killed in step 4, after its step-3 checkpoint (TINY: log every 2, eval and ckpt every 3)."""
    undo = at_batch(monkeypatch, task_cls, 4, simulated_kill)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(make_cfg(), folder)
    undo()


@pytest.mark.parametrize("task", ["classify", "lm"])
def test_a_run_continued_in_a_new_folder_is_whole_there(tiny_cfg, tiny_lm_cfg, tmp_path, monkeypatch, task):
    make_cfg, task_cls = (tiny_cfg, ClassifyTask) if task == "classify" else (tiny_lm_cfg, LMTask)
    straight, first, second = tmp_path / "straight", tmp_path / "first", tmp_path / "second"
    train(make_cfg(), straight)
    _killed_at_step_4(make_cfg, task_cls, first, monkeypatch)
    first_metrics = (first / "metrics.jsonl").read_bytes()

    summary = train(make_cfg(f"trainer.resume={first / 'checkpoint.pt'}"), second)

    assert summary["status"] == "ok" and summary["step"] == 6
    # the new folder's curves and weights are those of the run never stopped, steps 1-3 included
    assert_same_run(straight, second)
    assert read_probes(straight / "probes.jsonl", kind=None) == read_probes(second / "probes.jsonl", kind=None)
    assert min(e["step"] for e in read_metrics(second / "metrics.jsonl")) == 2  # not 4: carried
    recorded = read_summary(second / "summary.json")["resumed_from"]
    assert recorded == {"checkpoint": str((first / "checkpoint.pt").resolve()), "run_dir": str(first.resolve()),
                        "step": 3, "wandb_id": None}
    assert (first / "metrics.jsonl").read_bytes() == first_metrics  # the earlier folder is left as it was


def test_the_earlier_metrics_after_the_checkpoint_are_not_carried(tiny_cfg, tmp_path, monkeypatch):
    # The first run logs step 4 and is killed in step 5: its line of step 4 comes after its
    # step-3 checkpoint, so the new folder has its own step 4 (the same numbers) and no other.
    first, second = tmp_path / "first", tmp_path / "second"
    undo = at_batch(monkeypatch, ClassifyTask, 5, simulated_kill)
    with pytest.raises(RuntimeError):
        train(tiny_cfg(), first)
    undo()
    assert [e["step"] for e in read_metrics(first / "metrics.jsonl", split="train")] == [2, 4]
    train(tiny_cfg(f"trainer.resume={first}"), second)  # a run folder: its checkpoint.pt
    lines = (second / "metrics.jsonl").read_text().splitlines()
    assert sum('"step": 4,' in line for line in lines) == 1


def test_resume_true_in_the_new_folder_keeps_its_origin(tiny_cfg, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    _killed_at_step_4(tiny_cfg, ClassifyTask, first, monkeypatch)
    undo = at_batch(monkeypatch, ClassifyTask, 3, simulated_kill)  # the new folder's 3rd batch: step 6
    with pytest.raises(RuntimeError):
        train(tiny_cfg(f"trainer.resume={first}", "trainer.ckpt_every=1"), second)
    undo()
    metrics = (second / "metrics.jsonl").read_text()
    summary = train(tiny_cfg("trainer.resume=true", "trainer.ckpt_every=1"), second)
    assert summary["step"] == 6 and summary["resumed_from"]["run_dir"] == str(first.resolve())
    assert (second / "metrics.jsonl").read_text().startswith(metrics)  # carried once, never again


class FakeWandb:
    """WandbRun's interface, recording what a run asks of it."""

    made: list["FakeWandb"] = []

    def __init__(self, mode, run_dir, config, project, name, group=None, entity=None, tags=None, resume_id=None):
        self.mode, self.config, self.resume_id, self.steps = mode, config, resume_id, []
        self.id = resume_id or f"run-{len(FakeWandb.made)}"
        FakeWandb.made.append(self)

    def log(self, metrics, step):
        self.steps.append(step)

    def summary(self, values):
        pass

    def finish(self, exit_code=0):
        pass


def test_a_new_folder_is_a_new_wandb_run_with_the_earlier_one_as_parent(tiny_cfg, tmp_path, monkeypatch):
    import normbench.track.wandb_run as wandb_run

    monkeypatch.setattr(wandb_run, "WandbRun", FakeWandb)  # start_wandb makes the run's
    FakeWandb.made = []
    first, second = tmp_path / "first", tmp_path / "second"
    _killed_at_step_4(lambda *a: tiny_cfg("logger.wandb.mode=offline", *a), ClassifyTask, first, monkeypatch)
    train(tiny_cfg("logger.wandb.mode=offline", f"trainer.resume={first / 'checkpoint.pt'}"), second)

    earlier, new = FakeWandb.made
    assert earlier.id == "run-0" and new.resume_id is None and new.id == "run-1"  # not resumed: a new run
    assert new.config["resumed_from"]["wandb_id"] == "run-0"
    assert read_summary(second / "summary.json")["wandb"]["id"] == "run-1"
    assert read_summary(second / "summary.json")["resumed_from"]["wandb_id"] == "run-0"
    # the earlier steps replayed first, in order, then the new ones: wandb's curves are whole too
    assert new.steps[0] == 0 and new.steps == sorted(new.steps) and 6 in new.steps
    assert {2, 3} <= set(new.steps)


def test_a_checkpoint_without_metrics_beside_it_still_resumes(tiny_cfg, tmp_path, monkeypatch, caplog):
    import shutil

    first, alone, second = tmp_path / "first", tmp_path / "alone", tmp_path / "second"
    _killed_at_step_4(tiny_cfg, ClassifyTask, first, monkeypatch)
    alone.mkdir()
    shutil.copy(first / "checkpoint.pt", alone / "step3.pt")
    summary = train(tiny_cfg(f"trainer.resume={alone / 'step3.pt'}"), second)
    assert summary["step"] == 6 and summary["resumed_from"]["step"] == 3
    assert "no metrics.jsonl beside" in caplog.text
    assert min(e["step"] for e in read_metrics(second / "metrics.jsonl")) == 4
