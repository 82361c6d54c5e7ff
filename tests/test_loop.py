"""The loop's seams: the lr logged is the one used, the guard before every checkpoint, versions
recorded, a finished run left alone by trainer.resume=true."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from normbench.track import read_metrics, read_summary
from normbench.train import train
from normbench.train.guard import Diverged, check_weights
from normbench.train.optim import lr_factor


def test_logged_lr_is_the_lr_of_that_step(tiny_cfg, tmp_path):
    train(tiny_cfg("trainer.log_every=1", "optim.warmup_steps=4", "optim.lr=1e-3"), tmp_path)
    for e in read_metrics(tmp_path / "metrics.jsonl", split="train"):
        # step s (1-based) was taken with the schedule's factor at index s - 1
        assert e["lr"] == pytest.approx(1e-3 * lr_factor(e["step"] - 1, 6, 4, 0.01, "cosine")), e


def test_summary_records_versions_and_one_naming_rule(tiny_cfg, tmp_path):
    summary = train(tiny_cfg(), tmp_path)
    assert summary["versions"]["torch"] == torch.__version__
    assert summary["versions"]["timm"] and summary["versions"]["normbench"]
    assert set(summary["final"]) == {"val/loss", "val/acc1", "test/loss", "test/acc1", "train/loss"}
    assert summary["best"]["metric"] == "val/acc1"
    assert set(summary["action_time_s"]) == {"log", "evaluate", "probe", "checkpoint"}  # what each seam costs



def test_the_training_steps_run_with_the_heap_frozen_and_release_it_after(tiny_cfg, tmp_path, monkeypatch):
    """Trainer.fit freezes the objects alive before its steps (gc.freeze: the collector skips
    them) and unfreezes them at the end, also when a step fails; an outer freeze is left alone."""
    import gc

    from normbench.train import loop
    from normbench.train.gc_freeze import frozen_heap

    counts, real_steps = [], loop.Trainer._steps
    monkeypatch.setattr(loop.Trainer, "_steps", lambda self: counts.append(gc.get_freeze_count()) or real_steps(self))
    before = gc.get_freeze_count()  # 0 unless an earlier test left the heap frozen (failed once under load)
    train(tiny_cfg(), tmp_path / "a")
    assert counts[0] > 1000 and gc.get_freeze_count() == 0, (before, counts, gc.get_freeze_count())
    monkeypatch.setattr(loop.Trainer, "_steps", lambda self: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        train(tiny_cfg(), tmp_path / "b")
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        outer = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == outer  # not unfrozen by the inner one
    finally:
        gc.unfreeze()

def test_check_weights_catches_a_nan_weight():
    model = torch.nn.Linear(3, 3)
    check_weights(5, model, 1.0)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with pytest.raises(Diverged, match="non-finite weights"):
        check_weights(5, model, 1.0)


def test_nan_weights_never_reach_a_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    from normbench.train.loop import Trainer

    real_step = Trainer.train_step

    def poisoned(self, batch, clip):
        loss = real_step(self, batch, clip)
        if self.step == 3:  # the update of step 4 writes a NaN; its loss was still finite
            with torch.no_grad():
                next(self.model.parameters()).view(-1)[0] = float("nan")
        return loss

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    # ckpt_every=2 is no multiple of log_every=5: the checkpoint at step 4 comes before any log
    summary = train(tiny_cfg("trainer.log_every=5", "trainer.ckpt_every=2", "trainer.eval_every=6"), tmp_path)
    assert summary["status"] == "diverged" and summary["diverged"]["step"] == 4
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_resume_true_leaves_a_finished_run_alone(tiny_cfg, tmp_path):
    first = train(tiny_cfg(), tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    again = train(tiny_cfg("trainer.resume=true"), tmp_path)
    assert again == read_summary(tmp_path / "summary.json") and again["status"] == first["status"] == "ok"
    assert files == {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}


def test_leaving_a_finished_run_alone_adds_nothing_to_its_train_log(tiny_cfg, tmp_path, caplog):
    """Hydra's job log file is the run folder's train.log; re-running a sweep must not append its
    "nothing to do" there (a study commits train.log), only say it on the console."""
    import logging

    train(tiny_cfg(), tmp_path)
    (tmp_path / "train.log").write_text("the run's own lines\n")
    handler = logging.FileHandler(tmp_path / "train.log")  # as Hydra's job logging adds it
    logging.getLogger().addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            train(tiny_cfg("trainer.resume=true"), tmp_path)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert (tmp_path / "train.log").read_text() == "the run's own lines\n"
    assert "already finished (ok); nothing to do" in caplog.text


def test_resume_true_leaves_a_run_of_a_live_process_alone_and_resumes_a_killed_one(tiny_cfg, tmp_path):
    import json
    import socket
    import subprocess
    import sys

    train(tiny_cfg(), tmp_path)
    path = tmp_path / "summary.json"
    state = json.loads(path.read_text())
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = {**state, "status": "running", "process": {"host": socket.gethostname(), "pid": other.pid}}
        path.write_text(json.dumps(running))
        assert train(tiny_cfg("trainer.resume=true"), tmp_path)["status"] == "running"  # left to its process
        assert json.loads(path.read_text()) == running
    finally:
        other.kill()
        other.wait()
    # its process is gone: the run is unfinished, so it is resumed (from its last checkpoint)
    assert train(tiny_cfg("trainer.resume=true"), tmp_path)["status"] == "ok"


def test_train_does_not_change_the_callers_config(tiny_cfg, tmp_path):
    from omegaconf import OmegaConf

    cfg = tiny_cfg("trainer.resume='true'")  # train() reads the quoted 'true' as true, on its own copy
    before = OmegaConf.to_yaml(cfg)
    train(cfg, tmp_path)
    assert OmegaConf.to_yaml(cfg) == before


@pytest.mark.slow  # a fresh interpreter per module
@pytest.mark.parametrize("module", ["normbench.train.generate", "normbench.train.judge", "normbench.train.classify",
                                    "normbench.train.lm", "normbench.train.loop", "normbench.train.task"])
def test_every_train_module_imports_first(module):
    """Each module imports on its own in a fresh interpreter (an import circle fails on one of
    them, as generate -> judge -> loop -> generate did)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=120)


@pytest.mark.parametrize("module", ["loop", "task"])
def test_the_loop_and_the_task_registry_import_no_task(module):
    """The loop and the registry name no task module in their imports; the task modules are
    imported by the registry's tasks() (which normbench.config calls to store their schemas)."""
    import ast

    import normbench.train

    tree = ast.parse(Path(normbench.train.__file__).with_name(f"{module}.py").read_text())
    imported = set()
    for node in tree.body:  # module level: what importing it imports
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(filter(None, ["normbench.train" if node.level else None, node.module]))
            imported |= {base, *(f"{base}.{a.name}" for a in node.names)}
    tasks = {"normbench.train.generate", "normbench.train.lm", "normbench.train.classify"}
    assert imported and not imported & tasks


def test_a_task_registers_itself():
    from normbench.train.task import TASKS, register_task, task_configs, tasks

    assert set(tasks()) >= {"classify", "lm", "generate"}

    @dataclasses.dataclass
    class ToyConfig:
        name: str = "toy"
        rate: float = 0.5

    @register_task
    class Toy:
        name = "toy"
        Config = ToyConfig

    try:
        assert task_configs()["toy"] is ToyConfig  # the `task` group's schema for task=toy
        assert tasks()["toy"] is Toy
    finally:
        TASKS.pop("toy")
