"""Train one run: `python train.py model=vit norm=dyt norm.alpha0=0.8` (add -m for a grid).

Hydra composes configs/ and makes the run folder; normbench.train does the rest.
Data-parallel: `torchrun --nproc_per_node=N train.py ...` (normbench/dist.py).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from normbench.errors import InputError
from normbench.preempt import requeue_with_submitit
from normbench.track import versions, write_summary
from normbench.track.logfiles import log_split
from normbench.train import train

log = logging.getLogger("train")


def log_to_file(message: str, traceback: bool = False) -> None:
    """An ERROR record into the job's log file (train.log) only, never the console, where the
    error is printed once by whoever reports it: `error: ...` of a single run, the job's own line
    in a sweep, Hydra's traceback of a crash. train.log keeps every failed job's error (and, for a
    crash, its traceback, which Hydra prints for the first failed job only)."""
    log_split(log, logging.ERROR, "%s", message, files=True, exc_info=sys.exc_info() if traceback else None)


class SweepJobInputError(CompactHydraException):
    """What Hydra reports, as one line and no traceback (a CompactHydraException), for the first
    sweep job that stopped on bad input; that job's error itself was logged once already."""


def record_input_failure(run_dir: Path, cfg: DictConfig, err: InputError) -> None:
    """A sweep job stopped by a bad input before training still gets summary.json (status
    failed, the error) and config.yaml, so a sweep's folder says what happened to every job.
    Never in a folder that holds a run (metrics.jsonl or a checkpoint): that is left as it was."""
    if any((run_dir / name).exists() for name in ("metrics.jsonl", "checkpoint.pt")):
        return
    task = cfg.get("task")
    run = {"task": task.get("name") if isinstance(task, DictConfig) else task,
           **{key: OmegaConf.select(cfg, f"{key}.name", default=None) for key in ("model", "norm", "normfree", "data")},
           "variant": cfg.get("variant"), "seed": OmegaConf.select(cfg, "trainer.seed", default=None)}
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
        except Exception:  # an interpolation that cannot resolve is itself the bad input
            pass
        write_summary(run_dir / "summary.json", {
            "status": "failed", "step": 0, "error": f"{type(err).__name__}: {err}", "input_error": True,
            "final": {}, "best": None, "diverged": None, "interrupted": None, "run": run, "versions": versions(),
            "process": {"host": socket.gethostname(), "pid": os.getpid()}})
    except OSError:  # an unwritable run folder is the error being reported
        pass


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    try:
        with logging_redirect_tqdm():
            summary = train(cfg, hc.runtime.output_dir, hydra=hc)
    except InputError as err:
        if hc.mode == RunMode.MULTIRUN:
            log.error("%s", err)  # each job's error on the console once, as its own line
            record_input_failure(Path(hc.runtime.output_dir), cfg, err)
            # Hydra runs the other jobs, then reports this one as failed, in one line
            raise SweepJobInputError(f"that job stopped on bad input (its error is above and in "
                                     f"{hc.runtime.output_dir}/summary.json); the other jobs ran") from None
        log_to_file(str(err))
        sys.exit(f"error: {err}")  # one clear line, no traceback: the input, not the code, is wrong
    except Exception as err:
        # summary.json already says failed, with the error; the traceback goes to train.log
        log_to_file(f"run failed: {type(err).__name__}: {err}", traceback=True)
        raise  # in a sweep Hydra runs the other jobs, then reports the first failed one
    if summary["status"] == "interrupted":
        # Stopped by submitit's requeue signal (a submitit launcher's job near its time limit or
        # preempted): submitit's own handler resubmits the job now and exits.
        requeue_with_submitit(summary["interrupted"]["signal"])
        # 128 + the signal (143 SIGTERM, 130 Ctrl-C): SLURM/submitit see a job killed by a signal
        # and requeue it; a -m sweep stops here too, and re-running it with trainer.resume=true
        # resumes this run exactly and skips the finished ones.
        sys.exit(summary["interrupted"]["exit_code"])
    # The best metric is the job's return value, for sweepers that optimise it (optuna).
    return summary["best"]["value"]


def quiet_other_ranks() -> None:
    """Under torchrun every process runs this file. Rank 0's Hydra makes the run folder (and its
    .hydra/ and train.log), and normbench.train gives every rank rank 0's folder; the other
    ranks' Hydra gets a temporary folder of its own, removed at exit, writes no .hydra/ and logs
    only errors, so one run leaves one folder and one console log."""
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank in (None, "0") or world in (None, "1"):
        return
    scratch = tempfile.mkdtemp(prefix=f"normbench-rank{rank}-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    # the last value of a key wins: these come after the user's own
    sys.argv += [f"hydra.run.dir={scratch}", f"hydra.sweep.dir={scratch}", "hydra.output_subdir=null",
                 "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]


if __name__ == "__main__":
    quiet_other_ranks()
    main()
