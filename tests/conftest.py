"""Shared test helpers: compose the real configs/ with tiny, fast overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import normbench.config  # noqa: F401  registers the schema nodes that configs/*.yaml extend

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True)
def _heap_left_unfrozen():
    """A test that leaves Python's heap frozen (gc.freeze without its unfreeze: a leak in a sweep
    process) fails here, named, and is undone so it cannot pass its freeze on: a later test's
    Trainer.fit would take it for an outer freeze (tests/test_loop.py failed once that way or
    another, not reproduced in 15 runs of every test before it)."""
    import gc

    yield
    leaked = gc.get_freeze_count()
    if leaked:
        gc.unfreeze()
        pytest.fail(f"this test left {leaked} objects frozen (gc.freeze without gc.unfreeze)")


# A few steps on the cpu, logged, evaluated and checkpointed often, nothing sent anywhere.
TINY_RUN = [
    "trainer.max_steps=6",
    "trainer.eval_every=3",
    "trainer.log_every=2",
    "trainer.ckpt_every=3",
    "trainer.progress=false",
    "trainer.device=cpu",
    "logger.wandb.mode=disabled",
]
# A run small enough for a test: synthetic 16 px data, a 1-block ViT, a few steps.
TINY = [
    "data=synthetic",
    "model.patch_size=4",
    "model.embed_dim=16",
    "model.depth=1",
    "model.num_heads=2",
    *TINY_RUN,
]

# The same for task=lm: a 1-block LLaMA on 16-byte windows of the shipped corpus (task=lm
# makes model=llama, data=shakespeare and optim=adamw_llama the defaults).
TINY_LM = [
    "task=lm",
    "model.embed_dim=16",
    "model.depth=1",
    "model.num_heads=2",
    "data.context_length=16",
    "data.batch_size=4",
    "data.eval_batch_size=8",
    "data.eval_windows=8",
    "probe.batch_size=4",
    *TINY_RUN,
]

# The same for task=generate: a 1-block DiT on synthetic 16 px images, a 5-step judge.
TINY_GEN = [
    "task=generate",
    "data=synthetic",
    "model.embed_dim=16",
    "model.depth=1",
    "model.num_heads=2",
    "data.batch_size=16",
    "data.eval_batch_size=64",
    "task.val_size=32",
    "task.eval_samples=40",
    "task.grid_per_class=4",
    "task.sample_steps=3",
    "task.judge_steps=5",
    "probe.batch_size=4",
    *TINY_RUN,
]
TINY_BY_TASK = {"classify": TINY, "lm": TINY_LM, "generate": TINY_GEN}


# -- a script of the checkout (train.py, sweep.py) as a user runs it: a process of its own ----------
SCRIPT_ENV = {"WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def run_script(script: str, *args: str, env: dict | None = None, timeout: float = 400,
               popen: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """`python <script> <args>` from the checkout, output captured as text, wandb quiet and one
    thread; env: extra variables. popen=True starts it and returns the process (a test that
    signals it). Tests that call this spawn processes: they belong to the slow tier."""
    argv = [sys.executable, str(ROOT / script), *args]
    full_env = {**os.environ, **SCRIPT_ENV, **(env or {})}
    if popen:
        return subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def compose_cfg(overrides: list[str] | tuple[str, ...] = ()):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.fixture
def tiny_cfg():
    def make(*extra: str):
        return compose_cfg(TINY + list(extra))

    return make


@pytest.fixture
def tiny_lm_cfg(tmp_path, monkeypatch):
    """Like tiny_cfg for task=lm; the corpus cache goes to tmp_path, not the user's home."""
    from normbench.data import paths

    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "data_cache")

    def make(*extra: str):
        return compose_cfg(TINY_LM + list(extra))

    return make


# -- exact resume: the same run stopped and taken up again equals the run never stopped -------
TIMING = ("samples_per_s", "tokens_per_s", "train_time_s")  # wall-clock numbers, never equal


def at_batch(monkeypatch, task_cls, n: int, effect):
    """Patch task_cls.next_batch so that its n-th call runs `effect()` first (raising: a kill in
    the middle of step n; os.kill: a signal). Returns the undo."""
    real, calls = task_cls.next_batch, {"n": 0}

    def next_batch(self):
        calls["n"] += 1
        if calls["n"] == n:
            effect()
        return real(self)

    monkeypatch.setattr(task_cls, "next_batch", next_batch)
    return lambda: monkeypatch.setattr(task_cls, "next_batch", real)


def simulated_kill():
    raise RuntimeError("simulated kill")


def assert_resume_is_exact(make_cfg, task_cls, tmp_path: Path, monkeypatch) -> None:
    """Train a TINY_RUN config (make_cfg(*overrides) composes it) straight through; train it again,
    killed in the middle of step 4 (after the step-3 checkpoint; TINY_RUN logs every 2 steps, so the
    kill falls inside an unlogged loss window the checkpoint carries); resume that one in its own
    folder: it must end as the run never killed."""
    from normbench.track import read_summary
    from normbench.train import train
    from normbench.train.checkpoint import load_checkpoint

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(make_cfg(), straight)
    undo = at_batch(monkeypatch, task_cls, 4, simulated_kill)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(make_cfg(), killed)
    assert read_summary(killed / "summary.json")["status"] == "failed"
    assert load_checkpoint(killed / "checkpoint.pt")["step"] == 3
    undo()
    summary = train(make_cfg("trainer.resume=true"), killed)
    assert summary["status"] == "ok" and summary["step"] == 6
    assert_same_run(straight, killed)


def assert_same_run(straight: Path, resumed: Path) -> None:
    """The same final weights and the same metrics.jsonl, wall-clock numbers aside."""
    import torch

    from normbench.track import read_metrics
    from normbench.train.checkpoint import load_checkpoint

    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(resumed / "checkpoint.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    strip = lambda path: [{k: v for k, v in e.items() if k not in TIMING} for e in read_metrics(path)]  # noqa: E731
    assert strip(straight / "metrics.jsonl") == strip(resumed / "metrics.jsonl")
