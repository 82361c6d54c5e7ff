"""Launch a study's multiruns, then report it.

Each variant is one `train.py -m` process (Hydra's basic launcher by default; any
`hydra/launcher=...` override given to sweep.py reaches every one); with `--procs N` each seed of
a variant is one, N at a time. A job that fails or diverges is recorded in its run folder and
the others go on; the report and README are
written from whatever run folders exist, so an interrupted study reports what it has and a
re-run finishes the rest (train.py skips ok/diverged runs and resumes unfinished ones:
failed, interrupted, or "running" with no live process).

SIGTERM (SLURM's preemption) or Ctrl-C to sweep.py is passed on as SIGTERM to the running
train.py and every process it started (it runs in a process group of its own: a joblib
launcher's workers train in child processes that its death alone would leave training), so
each run stops at a step boundary with a checkpoint ("interrupted"); no further variant starts,
and re-running the same command resumes the study.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from normbench.errors import CheckoutError
from normbench.study.spec import Study
from normbench.preempt import SIGNALS, exit_code

log = logging.getLogger("normbench.sweep")


class StudyInterrupted(Exception):
    """SIGTERM or Ctrl-C stopped a study between (or inside) its jobs; re-running resumes it."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}; the running job stopped with a checkpoint "
                         "(status interrupted); re-run the same command to resume the study")
        self.signum = signum
        self.exit_code = exit_code(signum)


class _PassOn:
    """While a job runs: a SIGTERM or SIGINT to this process becomes one SIGTERM to the job's
    process group (train.py -m and a launcher's workers). The job gets SIGTERM even for Ctrl-C:
    a second SIGINT would stop a run at once, without its checkpoint. In a session of its own,
    the job is out of reach of a terminal's Ctrl-C, so it gets the signal once, from here."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.children: list[subprocess.Popen] = []  # several at once with sweep.py --procs N
        self._previous: dict = {}

    def __call__(self, signum: int, frame) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        for child in self.children if first else ():
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:  # ended meanwhile
                    pass

    def start(self, argv: list[str], cwd: Path) -> subprocess.Popen:
        if self.signum is not None:
            raise StudyInterrupted(self.signum)
        child = subprocess.Popen(argv, cwd=cwd, start_new_session=True)
        self.children.append(child)
        return child

    def finish(self, child: subprocess.Popen) -> int:
        try:
            return child.wait()
        finally:
            self.children.remove(child)

    def run(self, argv: list[str], cwd: Path) -> int:
        return self.finish(self.start(argv, cwd))

    def __enter__(self) -> "_PassOn":
        for sig in SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self)
            except ValueError:  # not the main thread: signals stay as they are
                break
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def compose_first_point(study: Study, job, passthrough: list[str]):
    """The run config of the job's first grid point, composed from the study's configs/."""
    from normbench.config.compose import compose_run
    from normbench.study.spec import first_point

    return compose_run(first_point([o for o in job.overrides + passthrough if not o.startswith("-")]), study.configs)


def check_job(study: Study, job, passthrough: list[str]) -> None:
    """The run's pre-flight checks (normbench.train.preflight) on the job's first grid point, so
    a study's bad value fails in --dry-run with the variant named, before any job starts."""
    from normbench.errors import InputError, StudyError
    from normbench.train.preflight import preflight

    try:
        preflight(compose_first_point(study, job, passthrough))
    except InputError as err:
        raise StudyError(f"study {study.name}, variant {job.variant}: {err}") from err
    except Exception as err:  # Hydra's composition errors (an unknown group option, a bad override)
        raise StudyError(f"study {study.name}, variant {job.variant}: {type(err).__name__}: {err}") from err


def check_data_format(study: Study, passthrough: list[str]) -> None:
    """Refuse to add runs that define val/* differently from the study's finished runs, before any
    job starts: image runs with a validation split beside runs that predate data.val_split (their
    val/* is the held-out test images), or language-model runs with another data.test_fraction
    (the test split moves val/* to other bytes). One table would mean two data sets by one name."""
    from normbench.errors import StudyError
    from normbench.report.runs import find_run_dirs, load_run

    if not study.runs_dir.is_dir():
        return
    done = [r for p in find_run_dirs(study.runs_dir) if (r := load_run(p)).complete]
    old = [r for r in done if r.predates_val_split]
    text = {f for r in done if (f := r.text_test_fraction) is not None}
    if not old and not text:
        return
    ways_out = ("Allowed: rerun the whole study (move those runs away, or pass hydra.sweep.dir=<new folder>), "
                "or report the old runs as they are (--report)")
    where = study.shown(study.runs_dir)
    for job in study.jobs():  # every job: a variant may pin its own data keys
        data = compose_first_point(study, job, passthrough).data
        if old and data.get("val_split"):
            raise StudyError(f"study {study.name}: {len(old)} finished run(s) in {where} predate data.val_split (their "
                             f"val/* is the held-out test images), and new runs of variant {job.variant} would hold "
                             f"out data.val_split = {data['val_split']} training images as val/*: one table would "
                             "compare different data. " + ways_out)
        new = float(data.get("test_fraction") or 0.0)
        if text and text != {new}:
            have = ", ".join(f"{f:g}" for f in sorted(text))
            raise StudyError(f"study {study.name}: finished run(s) in {where} hold out data.test_fraction = {have}, and "
                             f"new runs of variant {job.variant} would hold out data.test_fraction = {new:g}: their "
                             "val/* would be other bytes of the corpus, and one table would compare different data. "
                             + ways_out)


def launch(study: Study, passthrough: list[str], dry_run: bool = False, train_py: Path | None = None,
           procs: int = 1, part: str | None = None) -> dict[str, int]:
    """Run every job of the study; returns {variant: exit code}. Raises StudyInterrupted when
    SIGTERM or Ctrl-C stopped it. train_py: the script each job runs; by default the train.py of
    the checkout the study's configs/ belong to. procs: jobs run at once, each one seed of a
    variant's multirun (a variant's long seeds side by side on 2 cores, or many small runs filling
    one borrowed GPU: scripts/gpu_study.sh). part: "grid" or "search" (Study.jobs)."""
    train_py = Path(train_py) if train_py is not None else study.checkout / "train.py"
    if not train_py.is_file():
        raise CheckoutError(f"train.py = {str(train_py)!r} is missing: a study runs the train.py beside its "
                            f"configs/ ({study.configs}); allowed: the configs/ of a normbench checkout")
    codes: dict[str, int] = {}
    running: list[tuple[str, subprocess.Popen]] = []
    units = study.jobs(part)
    if procs > 1:  # a variant's seeds side by side too, not only its variants
        units = [one for job in units for one in job.per_seed()]
    with _PassOn() as jobs:
        for job in units:
            argv = [sys.executable, str(train_py), *job.argv(study.runs_dir.resolve(), passthrough, study.name)]
            log.info("study %s, variant %s: %s", study.name, job.variant, " ".join(argv[2:]))
            if dry_run:
                check_job(study, job, passthrough)
                print(" ".join(argv[1:]))
                codes[job.variant] = 0
                continue
            if procs <= 1:
                codes[job.variant] = _note(job.variant, jobs.run(argv, cwd=train_py.parent), codes.get(job.variant))
                continue
            while len(running) >= procs:  # wait for a slot
                done = next((r for r in running if r[1].poll() is not None), None)
                if done is None:
                    time.sleep(0.5)
                    continue
                running.remove(done)
                codes[done[0]] = _note(done[0], jobs.finish(done[1]), codes.get(done[0]))
            running.append((job.variant, jobs.start(argv, cwd=train_py.parent)))
        for variant, child in running:
            codes[variant] = _note(variant, jobs.finish(child), codes.get(variant))
        if jobs.signum is not None:
            raise StudyInterrupted(jobs.signum)
    return codes


def _note(variant: str, code: int, before: int | None) -> int:
    """A job's exit code, warned about when it failed; a variant keeps its first failure."""
    if code:
        log.warning("variant %s: some jobs failed (exit %d); see their run folders", variant, code)
    return before or code


def wandb_mode(study: Study, passthrough: list[str]) -> str:
    """The study's logger.wandb.mode as its runs get it (the last override wins; default offline)."""
    scale = study.cfg["scales"][study.scale]
    modes = [o.split("=", 1)[1] for o in [*study.cfg.get("common", []), *scale.get("overrides", []), *passthrough]
             if o.startswith("logger.wandb.mode=")]
    return modes[-1] if modes else "offline"


def save_dashboard(study: Study, result) -> None:
    """The study's saved wandb dashboard (needs the `dashboard` extra and a login); a failure
    to save costs a warning, never the study."""
    from normbench.report import dashboard_spec

    layers = sorted({line["layer"] for run in result.runs for line in run.probe_lines("stats")})
    try:
        import wandb

        entity = wandb.Api().default_entity
        dashboard_spec(study.name, "normbench", entity, variants=list(study.cfg["variants"]), layers=layers).save()
    except Exception as err:  # ImportError without the extra, network or auth errors online
        log.warning("wandb dashboard for study %s not saved (%s: %s); pip install -e '.[dashboard]' and "
                    "`wandb login` to get one", study.name, type(err).__name__, err)


def run_study(study: Study, passthrough: list[str], command: str, dry_run: bool = False,
              report_only: bool = False, procs: int = 1, part: str | None = None) -> Path | None:
    """Run (unless report_only), then write results/<name>/{study.yaml, table, figures, README.md}
    and, unless wandb is disabled, one wandb report run in the study's group. A user's
    hydra.sweep.dir among `passthrough` is where the runs go and are reported from. Before the
    report the run folders are made committable (normbench/study/commit.py)."""
    from normbench.report import log_report_to_wandb, report
    from normbench.study.commit import clean_runs
    from normbench.study.readme import write_readme

    study, passthrough = study.with_sweep_dir(passthrough)
    if dry_run:  # print the commands, write nothing
        launch(study, passthrough, dry_run=True, procs=procs, part=part)
        return None
    if not report_only:
        check_data_format(study, passthrough)
    study.out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(study.cfg), study.out / "study.yaml")  # the report spec travels with the runs
    t0 = time.perf_counter()
    codes = {} if report_only else launch(study, passthrough, procs=procs, part=part)
    # the commands that made the runs, one line per invocation (two sweeps may share a study),
    # kept across --report rebuilds
    made_by = study.out / "command.txt"
    commands = made_by.read_text(encoding="utf-8").splitlines() if made_by.exists() else []
    if not report_only and command not in commands:
        commands.append(command)
        made_by.write_text("\n".join(commands) + "\n", encoding="utf-8")
    command = "\n".join(commands) or command
    cleaned = clean_runs(study.runs_dir, root=study.checkout)
    if any(cleaned.values()):
        log.info("run folders made committable: %d Hydra records removed, %d summaries without host/pid, "
                 "%d logs without absolute paths", cleaned["hydra"], cleaned["summaries"], cleaned["logs"])
    result = report([study.runs_dir], study.out, spec=study.cfg.get("report"))
    mode = wandb_mode(study, passthrough)
    if mode != "disabled":
        log_report_to_wandb(result, study.name, mode=mode)
    if mode == "online":
        save_dashboard(study, result)
    return write_readme(study, result, command=command, sweep_time_s=time.perf_counter() - t0, exit_codes=codes)
