"""train.py as a researcher runs it: a subprocess, a real run folder, a -m sweep, a bad value."""

from __future__ import annotations

import subprocess

import pytest

from conftest import TINY, TINY_LM, run_script

from normbench.track import read_metrics, read_summary


pytestmark = pytest.mark.slow  # every test here runs train.py as a process


def run_train(*args: str) -> subprocess.CompletedProcess:
    return run_script("train.py", *args, timeout=240)


def test_single_run_writes_every_run_folder_file(tmp_path):
    run_dir = tmp_path / "run"
    tiny = [o for o in TINY if not o.startswith("logger.wandb.mode")]
    proc = run_train(*tiny, "logger.wandb.mode=offline", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in (".hydra/config.yaml", ".hydra/overrides.yaml", "config.yaml", "metrics.jsonl", "summary.json",
                 "checkpoint.pt", "train.log"):
        assert (run_dir / name).is_file(), name
    summary = read_summary(run_dir / "summary.json")
    assert summary["status"] == "ok" and summary["step"] == 6
    assert summary["wandb"]["mode"] == "offline" and summary["wandb"]["id"]
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and summary["wandb"]["id"] in offline[0].name
    assert read_metrics(run_dir / "metrics.jsonl", split="val")


def test_multirun_grid_runs_each_job_in_its_own_folder_and_wandb_run(tmp_path):
    sweep = tmp_path / "sweep"
    tiny = [o for o in TINY if not o.startswith("logger.wandb.mode")]
    proc = run_train("-m", *tiny, "logger.wandb.mode=offline", "norm=layernorm,dyt", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [read_summary(sweep / str(i) / "summary.json") for i in (0, 1)]
    assert sorted(s["run"]["norm"] for s in summaries) == ["dyt", "layernorm"]
    assert all(s["status"] == "ok" for s in summaries)
    ids = [s["wandb"]["id"] for s in summaries]
    assert len(set(ids)) == 2  # one wandb run per job, never shared
    for i, run_id in enumerate(ids):
        assert [p.name.endswith(run_id) for p in (sweep / str(i) / "wandb").glob("offline-run-*")] == [True]


def test_a_task_lm_sweep_gets_the_lm_defaults_in_every_job(tmp_path):
    # task=lm alone chooses model=llama, data=shakespeare and optim=adamw_llama, in each -m job
    sweep = tmp_path / "sweep"
    proc = run_train("-m", *TINY_LM, "norm=rmsnorm,dyt", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [read_summary(sweep / str(i) / "summary.json") for i in (0, 1)]
    assert sorted(s["run"]["norm"] for s in summaries) == ["dyt", "rmsnorm"]
    assert {(s["status"], s["run"]["task"], s["run"]["model"], s["run"]["data"]) for s in summaries} == \
        {("ok", "lm", "llama", "shakespeare")}
    assert summaries[0]["throughput"]["unit"] == "tokens/s"


def test_bad_value_fails_before_training_with_a_clear_message(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_train(*TINY, "norm.alpha0=-1", f"hydra.run.dir={run_dir}")
    assert proc.returncode != 0
    assert "norm.alpha0 = -1" in proc.stderr and "> 0" in proc.stderr
    assert not (run_dir / "metrics.jsonl").exists()


def test_a_bad_job_in_a_sweep_fails_alone(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_train("-m", *TINY, "norm.alpha0=-1,0.5", f"hydra.sweep.dir={sweep}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    # the job's error once on the console (its own log line), then Hydra's one-line report
    assert (proc.stderr + proc.stdout).count("norm.alpha0 = -1") == 1, proc.stderr + proc.stdout
    assert "that job stopped on bad input" in proc.stderr
    assert "norm.alpha0 = -1" in (sweep / "0" / "train.log").read_text()
    assert not (sweep / "0" / "metrics.jsonl").exists()
    assert read_summary(sweep / "1" / "summary.json")["status"] == "ok"  # the good job still ran


def test_a_wrong_type_fails_before_training_in_one_line(tmp_path):
    # the schema's check (normbench.config.validate_config) runs first thing in a run
    run_dir = tmp_path / "run"
    proc = run_train(*TINY, "optim.lr=abc", f"hydra.run.dir={run_dir}")
    assert proc.returncode != 0
    assert "error: optim.lr = 'abc' is not allowed: must be a float" in proc.stderr
    assert (proc.stderr + proc.stdout).count("optim.lr = 'abc'") == 1, proc.stderr + proc.stdout  # printed once
    assert "Traceback" not in proc.stderr
    assert not (run_dir / "metrics.jsonl").exists()
