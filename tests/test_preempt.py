"""Preemption: SIGTERM (SLURM) or Ctrl-C stops a run at a step boundary with a checkpoint and
status "interrupted"; trainer.resume=true continues it exactly; a study passes the signal on."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from conftest import TINY, assert_same_run, at_batch, run_script

from normbench.preempt import StopRequest, exit_code
from normbench.track import read_metrics, read_summary
from normbench.train import train
from normbench.train.checkpoint import load_checkpoint
from normbench.train.classify import ClassifyTask

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_at_the_step_boundary_and_resume_is_exact(tiny_cfg, tmp_path, monkeypatch, sig):
    handler_before = signal.getsignal(sig)
    straight = tmp_path / "straight"
    train(tiny_cfg(), straight)

    # The signal arrives while step 5 fetches its batch: step 5 finishes, then the run stops.
    # Step 5 is between two logs (log_every=2) and two checkpoints (ckpt_every=3).
    stopped = tmp_path / "stopped"
    undo = at_batch(monkeypatch, ClassifyTask, 5, lambda: os.kill(os.getpid(), sig))
    summary = train(tiny_cfg(), stopped)
    assert summary["status"] == "interrupted" and summary["step"] == 5
    assert summary["interrupted"] == {"signal": sig.name, "exit_code": 128 + sig}
    assert read_summary(stopped / "summary.json")["status"] == "interrupted"
    assert load_checkpoint(stopped / "checkpoint.pt")["step"] == 5  # not the step-3 one: nothing lost
    assert signal.getsignal(sig) == handler_before  # the run's handlers are gone with it
    undo()

    # trainer.resume=true takes an interrupted run up again: the same weights and metrics,
    # the step-6 train loss averaged over steps 5 and 6 as in the run never stopped.
    summary = train(tiny_cfg("trainer.resume=true"), stopped)
    assert summary["status"] == "ok" and summary["step"] == 6 and summary["interrupted"] is None
    assert_same_run(straight, stopped)


def test_a_second_ctrl_c_stops_at_once_and_a_second_sigterm_is_ignored():
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # after SIGTERM: a sweep's pass-on, not a user insisting
        assert stop.record() == {"signal": "SIGTERM", "exit_code": 143}
    with pytest.raises(KeyboardInterrupt):
        with StopRequest():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
    assert exit_code(signal.SIGTERM) == 143 and exit_code(signal.SIGINT) == 130


@pytest.mark.slow  # spawns a process
def test_train_py_exits_143_on_sigterm_with_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    args = [*TINY, "trainer.max_steps=100000", "trainer.eval_every=100000", "trainer.ckpt_every=100000",
            "probe.enabled=false", f"hydra.run.dir={run_dir}"]
    proc = run_script("train.py", *args, popen=True)
    try:
        deadline = time.time() + 120
        while not read_metrics_or_empty(run_dir) and time.time() < deadline:
            time.sleep(0.2)  # wait until it trains
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-2000:]
    summary = read_summary(run_dir / "summary.json")
    assert summary["status"] == "interrupted" and summary["interrupted"]["signal"] == "SIGTERM"
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == summary["step"] > 0
    assert "Traceback" not in err


def read_metrics_or_empty(run_dir):
    path = run_dir / "metrics.jsonl"
    return read_metrics(path) if path.exists() else []


def test_a_study_passes_sigterm_on_and_starts_no_further_job(tmp_path):
    from normbench.study import load_study, runner

    # A stand-in train.py: says it started, waits for SIGTERM, exits as train.py does.
    fake = tmp_path / "fake_train.py"
    fake.write_text(
        "import pathlib, signal, sys, time\n"
        f"log = pathlib.Path({str(tmp_path / 'log')!r})\n"
        "signal.signal(signal.SIGTERM, lambda s, f: (log.open('a').write('term\\n'), sys.exit(143)))\n"
        "log.open('a').write('start\\n')\n"
        "time.sleep(60)\n"
    )
    study = load_study("squash", [f"study.out={tmp_path / 'out'}"])
    assert len(study.jobs()) > 1

    def stop_when_started():
        deadline = time.time() + 60
        while not (tmp_path / "log").exists() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # to the sweep, not to the job

    threading.Thread(target=stop_when_started, daemon=True).start()
    with pytest.raises(runner.StudyInterrupted) as info:
        runner.launch(study, [], train_py=fake)
    assert info.value.exit_code == 143
    assert (tmp_path / "log").read_text().split() == ["start", "term"]  # passed on once; no second job
