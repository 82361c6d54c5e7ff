"""A study's committed run folders are light and name no machine (issue 25, part 5): no Hydra
records, no host or pid in an ended run's summary, no absolute checkout path in its log; the
output folder is the checkout's results/<name> wherever the command runs (a user's study.out or
hydra.sweep.dir wins); the README's Machine line is what the runs recorded. On hand-made run
folders (a smoke study end to end: tests/test_sweep_faults.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conftest import ROOT

from normbench.report import load_runs
from normbench.study import load_study
from normbench.study.commit import clean_runs
from normbench.study.readme import machine
from normbench.study.spec import Study

PROCESS = {"host": "builder-7", "pid": 4242}


def run_folder(root: Path, name: str, status: str = "ok", device: str = "cpu", world_size: int | None = 1,
               threads: int | None = 1, record: dict | None = None, log: str = "") -> Path:
    """A run folder as a study's train.py -m leaves it, Hydra's records and the process included."""
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    for f in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (d / ".hydra" / f).write_text(f"cwd: {ROOT}\n")
    (d / "config.yaml").write_text(yaml.safe_dump({"variant": name, "trainer": {"seed": 0, "threads": threads}}))
    summary = {"status": status, "step": 4, "final": {}, "best": None, "process": PROCESS,
               "run": {"device": device, "variant": name, "seed": 0,
                       **({"world_size": world_size} if world_size else {})},
               "versions": {"torch": "2.0"}, **({"machine": record} if record else {})}
    (d / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (d / "metrics.jsonl").write_text("")
    (d / "train.log").write_text(log)
    return d


def test_clean_runs_removes_hydra_records_and_the_process_of_ended_runs(tmp_path):
    runs = tmp_path / "runs"
    ok = run_folder(runs, "ok", log=f"[x] {ROOT}/results/s/runs/ok already finished (ok)\n"
                                    f"[x] judge {Path.home()}/.cache/normbench/j\n")
    failed = run_folder(runs, "failed", status="failed")
    live = run_folder(runs, "live", status="running", log=f"{ROOT}/results/s/runs/live\n")
    (runs / "multirun.yaml").write_text(f"hydra:\n  sweep:\n    dir: {runs}\n")

    assert clean_runs(runs) == {"hydra": 4, "summaries": 2, "logs": 1}
    assert not list(runs.rglob(".hydra")) and not (runs / "multirun.yaml").exists()
    for d in (ok, failed):
        summary = json.loads((d / "summary.json").read_text())
        assert "process" not in summary and "builder-7" not in (d / "summary.json").read_text()
        assert summary["status"] in ("ok", "failed") and summary["run"]["device"] == "cpu"  # the rest kept
    # a "running" run may be trained right now: a live sweep reads its host and pid, and its log is open
    assert json.loads((live / "summary.json").read_text())["process"] == PROCESS
    assert (live / "train.log").read_text() == f"{ROOT}/results/s/runs/live\n"
    log = (ok / "train.log").read_text()
    assert str(ROOT) not in log and "results/s/runs/ok already finished" in log and "~/.cache/normbench/j" in log
    assert sorted(p.name for p in ok.iterdir()) == ["config.yaml", "metrics.jsonl", "summary.json", "train.log"]
    assert clean_runs(runs) == {"hydra": 0, "summaries": 0, "logs": 0}  # a second pass changes nothing


def test_study_jobs_write_no_hydra_folder():
    for job in load_study("squash", ["study.scale=smoke"]).jobs():
        argv = job.argv(ROOT / "runs", [], "g")
        assert "hydra.output_subdir=null" in argv


def test_the_output_folder_is_the_checkouts_results_wherever_the_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_study("squash").out == ROOT / "results" / "squash"
    assert load_study("squash", ["study.scale=smoke"]).out == ROOT / "results" / "squash-smoke"
    assert load_study("squash").runs_dir == ROOT / "results" / "squash" / "runs"
    configs = tmp_path / "clone" / "configs"  # another checkout's configs: its own results/
    (configs / "study").mkdir(parents=True)
    (configs / "study" / "squash.yaml").write_text((ROOT / "configs" / "study" / "squash.yaml").read_text())
    assert load_study("squash", configs=configs).out == tmp_path / "clone" / "results" / "squash"


def test_a_users_study_out_and_sweep_dir_win(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = load_study("squash", ["study.out=mine"])
    assert study.out.resolve() == tmp_path / "mine"  # relative to where the user typed it
    passthrough = ["trainer.threads=1", "hydra.sweep.dir=elsewhere/runs"]
    study, rest = study.with_sweep_dir(passthrough)
    assert rest == ["trainer.threads=1"] and study.runs_dir == Path("elsewhere/runs")
    argv = study.jobs()[0].argv(study.runs_dir.resolve(), rest, "g")
    dirs = [a for a in argv if a.startswith("hydra.sweep.dir=")]
    assert dirs == [f"hydra.sweep.dir={tmp_path / 'elsewhere' / 'runs'}"]  # one, the user's
    assert load_study("squash").with_sweep_dir(["trainer.threads=1"])[0].runs_dir == ROOT / "results/squash/runs"


def test_readme_cites_paths_relative_to_the_checkout(tmp_path):
    study = load_study("squash")
    assert study.shown(study.out) == "results/squash"
    assert study.shown(tmp_path / "x") == (tmp_path / "x").as_posix()  # outside the checkout: as given


def test_the_machine_line_comes_from_the_runs_not_this_machine(tmp_path, monkeypatch):
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "this-machine-arch")
    monkeypatch.setattr("os.cpu_count", lambda: 999)
    run_folder(tmp_path, "a", device="cuda", threads=4,
               record={"cpu": "x86_64", "cpu_cores": 16, "gpu": "NVIDIA H100", "os": "Linux 6"})
    run_folder(tmp_path, "b", device="cuda", threads=4, world_size=2,
               record={"cpu": "x86_64", "cpu_cores": 16, "gpu": "NVIDIA H100", "os": "Linux 6"})
    line = machine(load_runs([tmp_path]))
    assert line == ("device cuda; 1, 2 processes per run; torch threads per run: 4; "
                    "cpu x86_64, cpu_cores 16, gpu NVIDIA H100, os Linux 6")
    assert "this-machine-arch" not in line and "999" not in line and "builder-7" not in line
    old = tmp_path / "old"
    run_folder(old, "c", world_size=None, threads=None)  # runs before summaries had a machine record
    assert machine(load_runs([old])) == ("device cpu; 1 process per run; torch threads per run: torch's default; "
                                         "hardware not recorded in the runs' summaries")


def test_the_readme_of_a_study_names_no_machine(tmp_path):
    from normbench.report import report
    from normbench.study.readme import write_readme

    cfg = load_study("squash").cfg
    runs = tmp_path / "runs"
    run_folder(runs, "tanh", record={"cpu": "aarch64", "cpu_cores": 8, "gpu": None, "os": "Linux 6"})
    clean_runs(runs)
    result = report([runs], tmp_path, spec={"group_by": ["variant"], "figures": []})
    text = write_readme(Study(name="squash", scale="cpu", cfg=cfg, out=tmp_path), result, command="c",
                        sweep_time_s=0.0, exit_codes={}).read_text()
    assert "- Machine: device cpu; 1 process per run; torch threads per run: 1; cpu aarch64, cpu_cores 8, " \
           "os Linux 6" in text
    assert "builder-7" not in text and str(ROOT) not in text
