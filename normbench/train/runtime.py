"""Where and how a run computes: device, precision, threads, seed, compile."""

from __future__ import annotations

import contextlib
import random
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from normbench.errors import TrainerConfigError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """trainer.device: auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise TrainerConfigError(f"trainer.device = {name!r} is unknown; allowed: auto, cpu, cuda, cuda:N, mps") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainerConfigError(f"trainer.device = {name!r} but no CUDA device is available; allowed here: auto, cpu")
    return device


def check_trainer_config(cfg: Mapping[str, Any]) -> None:
    for key in ("max_steps", "eval_every", "log_every", "ckpt_every"):
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TrainerConfigError(f"trainer.{key} = {value!r} is not allowed: must be an integer >= 1")
    if cfg["precision"] not in PRECISIONS:
        raise TrainerConfigError(f"trainer.precision = {cfg['precision']!r} is unknown; allowed: {', '.join(PRECISIONS)}")
    if not cfg["max_loss"] > 0:
        raise TrainerConfigError(f"trainer.max_loss = {cfg['max_loss']!r} is not allowed: must be a number > 0")
    resume = cfg["resume"]
    if not (isinstance(resume, bool) or resume is None or isinstance(resume, str)):
        raise TrainerConfigError(f"trainer.resume = {resume!r} is not allowed: false, true, or a path")


def check_grad_checkpointing(enabled: bool, model: str, norm: str) -> None:
    """Grad checkpointing re-runs each block's forward in backward: a model needs the hook
    for it (its ModelSpec says grad_checkpointing), and BatchNorm would update its running
    statistics twice a step."""
    if not enabled:
        return
    from normbench.models.registry import grad_checkpointing_models

    fitting = grad_checkpointing_models()
    if model not in fitting:
        raise TrainerConfigError(f"trainer.grad_checkpointing = true does not fit model={model}; allowed with: "
                                 f"{', '.join(fitting)}")
    if norm == "batchnorm":
        raise TrainerConfigError("trainer.grad_checkpointing = true does not fit norm=batchnorm (the recomputed "
                                 "forward would update its running statistics twice a step); allowed with any "
                                 "other norm, or set trainer.grad_checkpointing=false")


def check_writable(run_dir: Path) -> None:
    """The run folder can be made and written, before anything is built: a read-only or
    misplaced hydra.run.dir is one named error, not a traceback at the first metric."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write_check"):
            pass
    except OSError as err:
        raise TrainerConfigError(f"hydra.run.dir = {str(run_dir)!r} cannot be written ({err.strerror or err}); "
                                 "allowed: a folder this user can create and write") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
