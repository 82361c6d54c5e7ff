"""Train one run: `python train.py model=vit norm=dyt norm.alpha0=0.8` (add -m for a grid).

Hydra composes configs/ and makes the run folder; normbench.train does the rest.
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from tqdm.contrib.logging import logging_redirect_tqdm

from normbench.errors import InputError
from normbench.preempt import requeue_with_submitit
from normbench.train import train

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    try:
        with logging_redirect_tqdm():
            summary = train(cfg, hc.runtime.output_dir, hydra=hc)
    except InputError as err:
        log.error("%s", err)
        if hc.mode == RunMode.MULTIRUN:
            raise  # Hydra runs the other jobs, then reports this one as failed
        sys.exit(f"error: {err}")  # one clear line, no traceback: the input, not the code, is wrong
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


if __name__ == "__main__":
    main()
