"""Hydra launchers: `train.py -m` through hydra/launcher=joblib (local parallel sweeps) and
submitit_local (what submitit_slurm runs on a cluster), each job's run folder complete, and
preemption under them: an interrupted job stops at a step boundary with a checkpoint, the
joblib sweep exits 143, submitit's requeue signal requeues the job and it resumes from the
step it stopped at, and a re-run with trainer.resume=true resumes what is unfinished.

Slow by nature: each launcher starts fresh worker processes that import torch (about 30-45 s
per sweep on 2 busy CPU cores), so each test runs the fewest sweeps that show the behaviour."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY

from normbench.track import read_summary
from normbench.train.checkpoint import load_checkpoint

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[launchers]'")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[launchers]'")

ENV = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
TIMEOUT = 240  # per sweep

pytestmark = pytest.mark.slow  # launchers start processes (joblib workers, submitit jobs)


def overrides(*extra: str, base=TINY) -> list[str]:
    """`base` with `extra` replacing the keys it sets (Hydra refuses a key given twice)."""
    keys = {e.split("=", 1)[0] for e in extra}
    return [o for o in base if o.split("=", 1)[0] not in keys] + list(extra)


def sweep_args(sweep_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), "-m",
            *overrides("trainer.threads=1", f"hydra.sweep.dir={sweep_dir}", *extra)]


def start_sweep(sweep_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(sweep_args(sweep_dir, *extra), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run_sweep(sweep_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_args(sweep_dir, *extra), cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=TIMEOUT)


def summary(run_dir: Path) -> dict:
    return read_summary(run_dir / "summary.json")


def training_pid(run_dir: Path, deadline: float) -> int:
    """The pid of the process training run_dir, once it has logged a train step."""
    while time.time() < deadline:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.stat().st_size and (run_dir / "summary.json").exists():
            state = summary(run_dir)
            if state["status"] == "running":
                return state["process"]["pid"]
        time.sleep(0.1)
    raise TimeoutError(f"{run_dir} did not start training")


def wait_finished(run_dir: Path, deadline: float) -> None:
    while time.time() < deadline:
        if (run_dir / "summary.json").exists() and summary(run_dir)["status"] == "ok":
            return
        time.sleep(0.1)
    raise TimeoutError(f"{run_dir} did not finish")


def finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    return out


def train_steps(run_dir: Path) -> list[int]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [e["step"] for e in lines if e["split"] == "train"]


# job 0: a short run that finishes; job 1: a long one, stopped by a signal while it trains
SHORT_AND_LONG = ("trainer.max_steps=8,100000", "trainer.eval_every=100", "trainer.ckpt_every=100")


def test_joblib_runs_jobs_in_parallel_workers_and_an_interrupted_job_exits_143(tmp_path):
    sweep = tmp_path / "sweep"
    proc = start_sweep(sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *SHORT_AND_LONG)
    try:
        deadline = time.time() + TIMEOUT
        wait_finished(sweep / "0", deadline)  # an interrupted job ends a joblib sweep (and kills its other jobs)
        worker = training_pid(sweep / "1", deadline)
        assert worker != proc.pid  # a loky worker process trains it, not the sweep's
        os.kill(worker, signal.SIGTERM)  # what SLURM sends, to the job's process
    finally:
        out = finish(proc)
    assert proc.returncode == 143, out[-3000:]  # 128 + SIGTERM reaches the sweep: never "done"

    done, stopped = summary(sweep / "0"), summary(sweep / "1")
    assert done["status"] == "ok" and done["step"] == 8
    assert done["process"]["pid"] not in (proc.pid, worker)  # the other worker
    assert stopped["status"] == "interrupted" and stopped["interrupted"] == {"signal": "SIGTERM", "exit_code": 143}
    step = stopped["step"]
    assert step > 0 and load_checkpoint(sweep / "1" / "checkpoint.pt")["step"] == step  # nothing lost
    # A re-run that resumes it: test_sweep_faults.py (plain sweeps) and the submitit test below.


def test_submitit_local_requeues_a_job_on_its_signal_without_losing_steps(tmp_path):
    """Two jobs as submitit runs them on SLURM, each in a process of its own. One gets submitit's
    requeue signal (USR2, sent before the time limit or at a preemption): it stops at the step
    boundary with a checkpoint, submitit requeues it and, with trainer.resume=true, it continues
    from that step and finishes. The other gets SIGTERM: it stops with a checkpoint, status
    interrupted, and the sweep does not count it as done."""
    sweep = tmp_path / "sweep"
    proc = start_sweep(sweep, "hydra/launcher=submitit_local", "trainer.max_steps=400,100000",
                       "trainer.eval_every=100", "trainer.ckpt_every=100", "trainer.resume=true")
    try:
        deadline = time.time() + TIMEOUT
        os.kill(training_pid(sweep / "0", deadline), signal.SIGUSR2)
        terminated = training_pid(sweep / "1", deadline)
        os.kill(terminated, signal.SIGTERM)
    finally:
        out = finish(proc)
    assert proc.returncode != 0 and "UncompletedJobError" in out, out[-3000:]  # job 1: stopped, not done

    log = (sweep / "0" / "train.log").read_text()
    assert "SIGUSR2 received: stopping at the end of this step" in log and "Requeued job" in log
    step = int(log.split("interrupted at step ")[1].split(";")[0])
    assert f"resumed from {sweep / '0' / 'checkpoint.pt'} at step {step}" in log
    assert summary(sweep / "0")["status"] == "ok" and summary(sweep / "0")["step"] == 400
    steps = train_steps(sweep / "0")
    assert steps == sorted(set(steps)) and steps[-1] == 400  # no step lost or logged twice

    stopped = summary(sweep / "1")
    assert stopped["status"] == "interrupted" and stopped["interrupted"] == {"signal": "SIGTERM", "exit_code": 143}
    assert load_checkpoint(sweep / "1" / "checkpoint.pt")["step"] == stopped["step"] > 0
    assert stopped["process"]["pid"] == terminated != proc.pid  # a submitit job process of its own
    assert list(sweep.glob(".submitit/*/*_log.out"))  # submitit's own logs sit in the sweep folder


def test_a_run_takes_submitits_requeue_signal_over_only_while_it_trains():
    """In a submitit job (its handler installed for USR2) a run takes USR2 like SIGTERM, gives
    submitit's handler back afterwards and hands the signal on to it; elsewhere USR2 is not taken."""
    from normbench.preempt import StopRequest, requeue_with_submitit, submitit_signal

    calls = []

    def submitits_handler(signum, frame):
        calls.append(signum)

    submitits_handler.__module__ = "submitit.core.job_environment"
    before = signal.signal(signal.SIGUSR2, submitits_handler)
    try:
        assert submitit_signal() == signal.SIGUSR2
        with StopRequest() as stop:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert stop.record() == {"signal": "SIGUSR2", "exit_code": 140} and calls == []
        assert signal.getsignal(signal.SIGUSR2) is submitits_handler
        requeue_with_submitit("SIGTERM")  # not submitit's signal: nothing to hand on
        assert calls == []
        requeue_with_submitit("SIGUSR2")
        assert calls == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, before)
    assert submitit_signal() is None  # no submitit handler: USR2 keeps its meaning
    with StopRequest():
        assert signal.getsignal(signal.SIGUSR2) is before


def test_a_study_passes_sigterm_on_to_a_launchers_worker_processes(tmp_path):
    """sweep.py signals the whole process group of its train.py -m: with joblib the runs train in
    worker processes, which the launcher's own death would leave training unsupervised."""
    from normbench.study import load_study, runner

    log = tmp_path / "log"
    # A stand-in train.py -m that trains in a worker process, as joblib's launcher does.
    worker = (f"import pathlib, signal, sys, time\nlog = pathlib.Path({str(log)!r})\n"
              "signal.signal(signal.SIGTERM, lambda s, f: (log.open('a').write('worker term\\n'), sys.exit(143)))\n"
              "log.open('a').write('worker start\\n')\ntime.sleep(60)\n")
    fake = tmp_path / "fake_train.py"
    fake.write_text(
        "import pathlib, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
        "time.sleep(60)\n"  # the launcher's process: SIGTERM's default action ends it at once
    )
    study = load_study("squash", [f"study.out={tmp_path / 'out'}"])

    def stop_when_started():
        deadline = time.time() + 60
        while not (log.exists() and "worker start" in log.read_text()) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # to the sweep

    threading.Thread(target=stop_when_started, daemon=True).start()
    with pytest.raises(runner.StudyInterrupted):
        runner.launch(study, [], train_py=fake)
    deadline = time.time() + 30
    while "worker term" not in log.read_text() and time.time() < deadline:
        time.sleep(0.05)
    assert log.read_text().split("\n")[:2] == ["worker start", "worker term"]
