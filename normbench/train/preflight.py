"""Every check a run's config must pass before anything is built, in one place.

Why: a bad value fails in a second with an error that names the key, not after the data loaded
or a judge trained; and `python sweep.py study=<name> --dry-run` runs the same checks on each
job's config, so a study's typo fails before its first job starts.
"""

from __future__ import annotations

from omegaconf import DictConfig

from normbench.config import validate_config
from normbench.models import check_model_fits_norm, check_model_fits_task
from normbench.normfree import check_normfree
from normbench.norms import split_norm_config
from normbench.norms.registry import resolve_options
from normbench.probes import check_probe_config
from normbench.track.wandb_run import check_mode as check_wandb_mode
from normbench.train.checkpoint import parse_resume
from normbench.train.runtime import check_grad_checkpointing, check_trainer_config
from normbench.train.task import check_task


def preflight(cfg: DictConfig) -> None:
    """Raise the first InputError of a composed run config (types, ranges, what fits what)."""
    validate_config(cfg)  # a wrong type is one named error, before anything is built
    t = cfg.trainer
    check_trainer_config(t)
    parse_resume(t.resume)
    check_probe_config(cfg.probe, t.max_steps)
    check_wandb_mode(cfg.logger.wandb.mode)
    check_task(cfg.task)
    check_model_fits_task(cfg.model.name, cfg.task.name)
    check_model_fits_norm(cfg.model, cfg.norm)  # adaln on vit, layernorm on dit: before data or judge load
    resolve_options(split_norm_config(cfg.norm)[1])  # the norm's option ranges: alpha0 > 0, a known squash
    normfree = cfg.get("normfree") or {"name": "none"}
    check_normfree(normfree, cfg.model.name, cfg.norm.name)
    check_grad_checkpointing(t.grad_checkpointing, cfg.model.name, cfg.norm.name)
