"""The model of a run: built for the task's data, transformed, placed, and (norm.alpha0_mode=data)
calibrated, in the order that matters: normfree transforms add parameters before the optimizer
exists; SyncBatchNorm comes before the probes and DDP find the norm layers; the data-driven alpha0
is set on the placed model and recorded, and a resumed run takes its alphas from the checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig
from torch import nn

from normbench.dist import Dist
from normbench.models import build_model
from normbench.normfree import apply_normfree
from normbench.norms import convert_sync_batchnorm
from normbench.train.alpha0_data import calibrate_alpha0, data_layers, write_alpha0

log = logging.getLogger(__name__)


def build_run_model(cfg: DictConfig, task, device, dist: Dist, run_dir: Path, fresh: bool) -> nn.Module:
    t = cfg.trainer
    model = build_model(cfg.model, cfg.norm, **task.model_kwargs())
    model = apply_normfree(model, cfg.get("normfree") or {"name": "none"}, cfg.model.name, cfg.norm.name)
    if t.grad_checkpointing:
        model.set_grad_checkpointing(True)
    if t.sync_bn and dist.enabled:
        model = convert_sync_batchnorm(model)
    elif t.sync_bn:
        log.warning("trainer.sync_bn = true has no effect on one process (it shares BatchNorm statistics "
                    "between torchrun's processes); training with BatchNorm")
    model = model.to(device)
    if fresh and data_layers(model):
        found = calibrate_alpha0(model, task.probe_batch(cfg.probe.batch_size))
        if dist.is_main:
            write_alpha0(run_dir, found)
    return model
