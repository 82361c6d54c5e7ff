"""Fault-tolerant sweeps: a job that diverges, raises (a bad input, or an error in the middle of
training) or is killed is recorded in its run folder (summary.json's status and error, the
traceback in its train.log), the rest of the sweep goes on, and re-running the same command
skips what finished and resumes or redoes the rest.

Faults in the middle of training are injected into the train.py processes by a sitecustomize
module on PYTHONPATH (the jobs run in subprocesses, out of reach of monkeypatch): the job whose
run folder path contains `in` raises, or is SIGKILLed, when it fetches its `at_batch`-th batch."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import TINY, run_script

from normbench.track import read_summary
from normbench.train.checkpoint import load_checkpoint

SITECUSTOMIZE = '''
import json, os, signal
_FAULTS = json.loads(os.environ.get("NORMBENCH_TEST_FAULTS", "[]"))
if _FAULTS:
    from hydra.core.hydra_config import HydraConfig
    from normbench.train.classify import ClassifyTask

    _real, _calls = ClassifyTask.next_batch, {}

    def _next_batch(self):
        run_dir = HydraConfig.get().runtime.output_dir + os.sep
        for fault in _FAULTS:
            if fault["in"] in run_dir:
                _calls[run_dir] = n = _calls.get(run_dir, 0) + 1
                if n == fault["at_batch"]:
                    if fault["do"] == "kill":
                        os.kill(os.getpid(), signal.SIGKILL)
                    raise RuntimeError(f"injected fault at batch {n}")
        return _real(self)

    ClassifyTask.next_batch = _next_batch
'''


pytestmark = pytest.mark.slow  # studies and sweeps as processes, with faults injected


def env(tmp_path: Path, faults: list[dict]) -> dict:
    """The fault injector on the path (a sitecustomize) and the faults it plays."""
    (tmp_path / "inject").mkdir(exist_ok=True)
    (tmp_path / "inject" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(p for p in (str(tmp_path / "inject"), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "NORMBENCH_TEST_FAULTS": json.dumps(faults)}


def run(tmp_path: Path, script: str, args: list[str], faults: list[dict] = ()) -> subprocess.CompletedProcess:
    return run_script(script, *args, env=env(tmp_path, list(faults)))


def summary(run_dir: Path) -> dict:
    return read_summary(run_dir / "summary.json")


def train_steps(run_dir: Path) -> list[int]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [e["step"] for e in lines if e["split"] == "train"]


def test_a_sweep_records_each_faulty_job_goes_on_and_a_rerun_resumes_it(tmp_path):
    sweep = tmp_path / "sweep"
    # job 0 trains; job 1 has a bad lr (fails before training); job 2 raises in the middle of
    # step 5 (after the step-3 checkpoint); job 3's lr is huge: its loss guard fires
    args = ["-m", *TINY, "trainer.threads=1", "optim.lr=2e-3,-1,4e-3,1e6", "trainer.resume=true",
            f"hydra.sweep.dir={sweep}"]
    proc = run(tmp_path, "train.py", args, faults=[{"in": f"{sweep}{os.sep}2{os.sep}", "at_batch": 5, "do": "raise"}])
    assert proc.returncode == 1, proc.stderr[-3000:]  # Hydra reports the failed jobs once all have run
    ok, bad_input, raised, diverged = (sweep / str(i) for i in range(4))

    assert summary(ok)["status"] == "ok" and summary(ok)["step"] == 6

    state = summary(bad_input)  # stopped before training: a one-line error, still a summary
    assert state["status"] == "failed" and state["step"] == 0 and state["input_error"] is True
    assert state["error"] == "OptimConfigError: optim.lr = -1.0 is not allowed: must be a number > 0"
    assert state["run"]["model"] == "vit" and (bad_input / "config.yaml").exists()
    log = (bad_input / "train.log").read_text()
    assert "optim.lr = -1.0 is not allowed" in log and "Traceback" not in log

    state = summary(raised)
    assert state["status"] == "failed" and state["step"] == 4
    assert state["error"] == "RuntimeError: injected fault at batch 5"
    log = (raised / "train.log").read_text()
    assert "Traceback (most recent call last)" in log and "RuntimeError: injected fault at batch 5" in log
    assert load_checkpoint(raised / "checkpoint.pt")["step"] == 3

    state = summary(diverged)
    assert state["status"] == "diverged" and state["error"] is None
    assert state["diverged"]["step"] == 2 and "trainer.max_loss" in state["diverged"]["why"]
    assert "diverged at step 2" in (diverged / "train.log").read_text()

    # The same command again, the fault gone: finished jobs (ok, diverged) are left as they are,
    # the failed one resumes from its checkpoint, the bad input fails the same way again.
    finished = {d: (d / "metrics.jsonl").read_bytes() for d in (ok, diverged)}
    proc = run(tmp_path, "train.py", args)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert all((d / "metrics.jsonl").read_bytes() == b for d, b in finished.items())
    assert summary(raised)["status"] == "ok" and summary(raised)["error"] is None
    assert f"resumed from {raised / 'checkpoint.pt'} at step 3" in (raised / "train.log").read_text()
    assert train_steps(raised) == [2, 4, 4, 6]  # step 4 trained again after the resume (the last line wins)
    assert summary(bad_input)["status"] == "failed" and not (bad_input / "metrics.jsonl").exists()


def test_a_study_goes_on_past_a_killed_job_and_a_rerun_finishes_it(tmp_path):
    """sweep.py end to end: each variant is its own train.py -m process, so even a job killed
    with SIGKILL (out of memory, a node lost) costs only its variant's process; the next
    variants run, the report (table, figures, README with verdict and command) is written from
    what exists, and re-running the command resumes the study."""
    out = tmp_path / "squash"
    runs = out / "runs"
    args = ["study=squash", "study.scale=smoke", f"study.out={out}", "study.scales.smoke.variants=[identity,tanh]",
            "trainer.threads=1"]
    faults = [{"in": f"{runs}{os.sep}identity{os.sep}", "at_batch": 4, "do": "kill"}]  # after the step-2 checkpoint
    proc = run(tmp_path, "sweep.py", args, faults)
    assert proc.returncode == 0, proc.stderr[-3000:]  # the study is reported; its README lists the exit codes
    (killed,), (ok,) = ([p.parent for p in (runs / v).glob("*/summary.json")] for v in ("identity", "tanh"))
    # a SIGKILL leaves no chance to write: summary.json says "running" with a process that is gone
    assert summary(killed)["status"] == "running" and load_checkpoint(killed / "checkpoint.pt")["step"] == 2
    assert "variant identity: some jobs failed (exit -9)" in proc.stderr
    assert summary(ok)["status"] == "ok"  # the study went on
    assert (out / "README.md").exists()

    untouched = (ok / "metrics.jsonl").read_bytes()
    proc = run(tmp_path, "sweep.py", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (ok / "metrics.jsonl").read_bytes() == untouched  # not redone
    assert summary(killed)["status"] == "ok"
    assert f"resumed from {killed / 'checkpoint.pt'} at step 2" in (killed / "train.log").read_text()
    readme = (out / "README.md").read_text()
    assert "## Verdict" in readme and "python sweep.py study=squash study.scale=smoke" in readme
    for name in ("table.md", "table.csv", "study.yaml", "loss_curves.png", "alpha_std.png"):
        assert (out / name).is_file(), name
    assert all(v in (out / "table.md").read_text() for v in ("identity", "tanh"))
