"""Optimizer and learning-rate schedule, as in the DyT paper's recipe.

AdamW through timm's create_optimizer_v2, which keeps 1-D parameters (DyT's alpha, norm
weights and biases, all biases) and the model's no_weight_decay() names out of weight
decay. The schedule is linear warmup then cosine to min_lr, per step, as a pure function
of the step so a resumed run gets the same learning rates.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from timm.optim import create_optimizer_v2

from normbench.config.schema import OptimConfig, defaults_of
from normbench.errors import OptimConfigError

OPTIMIZERS = ("adamw", "adam", "sgd", "lamb", "lion")
SCHEDULES = ("cosine", "constant")
DEFAULTS = defaults_of(OptimConfig, exclude=())  # for an optim config written by hand without every key


def _check(cfg: Mapping[str, Any]) -> None:
    if cfg["name"] not in OPTIMIZERS:
        raise OptimConfigError(f"optim.name = {cfg['name']!r} is unknown; allowed: {', '.join(OPTIMIZERS)}")
    if cfg["schedule"] not in SCHEDULES:
        raise OptimConfigError(f"optim.schedule = {cfg['schedule']!r} is unknown; allowed: {', '.join(SCHEDULES)}")
    if not cfg["lr"] > 0:
        raise OptimConfigError(f"optim.lr = {cfg['lr']!r} is not allowed: must be a number > 0")
    if cfg["weight_decay"] < 0:
        raise OptimConfigError(f"optim.weight_decay = {cfg['weight_decay']!r} is not allowed: must be >= 0")
    if cfg["warmup_steps"] < 0:
        raise OptimConfigError(f"optim.warmup_steps = {cfg['warmup_steps']!r} is not allowed: must be >= 0")
    clip = cfg.get("grad_clip")
    if clip is not None and not clip > 0:
        raise OptimConfigError(f"optim.grad_clip = {clip!r} is not allowed: null (no clipping) or a number > 0")


def build_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    _check(cfg)
    kwargs = {"betas": tuple(cfg["betas"])} if cfg["name"] in ("adamw", "adam", "lamb", "lion") else {}
    if cfg["name"] == "sgd":
        kwargs["momentum"] = cfg.get("momentum", DEFAULTS["momentum"])
    return create_optimizer_v2(
        model,
        opt=cfg["name"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        filter_bias_and_bn=True,  # no weight decay on 1-D parameters
        **kwargs,
    )


def lr_factor(step: int, max_steps: int, warmup_steps: int, min_lr_ratio: float, schedule: str) -> float:
    """Multiplier of the base lr at `step` (0-based): linear warmup, then cosine or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], max_steps: int):
    def factor(step: int) -> float:
        return lr_factor(step, max_steps, cfg["warmup_steps"], cfg["min_lr_ratio"], cfg["schedule"])

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
