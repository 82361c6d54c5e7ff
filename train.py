"""Train one run: `python train.py model=vit norm=dyt norm.alpha0=0.8` (add -m for a grid).

Hydra composes configs/ and makes the run folder; normbench.train does the rest.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from tqdm.contrib.logging import logging_redirect_tqdm

from normbench.errors import InputError
from normbench.train import train

log = logging.getLogger("train")


def name_wandb_run(cfg: DictConfig) -> None:
    """Fill logger.wandb.group/name from Hydra: a sweep is one group, a job is named by its overrides."""
    hc = HydraConfig.get()
    w = cfg.logger.wandb
    with open_dict(cfg):
        if hc.mode == RunMode.MULTIRUN:
            sweep = Path(hc.sweep.dir)
            w.group = w.group or f"sweep-{sweep.parent.name}-{sweep.name}"
            w.name = w.name or f"{hc.job.num}:{hc.job.override_dirname or 'defaults'}"
        else:
            w.name = w.name or Path(hc.runtime.output_dir).name


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    name_wandb_run(cfg)
    try:
        with logging_redirect_tqdm():
            summary = train(cfg, HydraConfig.get().runtime.output_dir)
    except InputError as err:
        log.error("%s", err)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra runs the other jobs, then reports this one as failed
        sys.exit(f"error: {err}")  # one clear line, no traceback: the input, not the code, is wrong
    # The best metric is the job's return value, for sweepers that optimise it (optuna).
    return summary["best"]["value"]


if __name__ == "__main__":
    main()
