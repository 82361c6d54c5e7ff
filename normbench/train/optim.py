"""Optimizer and learning-rate schedule: the DyT paper's recipe and torchvision's.

The paper's (configs/optim/adamw.yaml): AdamW through timm's create_optimizer_v2, which
keeps 1-D parameters (DyT's alpha, norm weights and biases, all biases) and the model's
no_weight_decay() names out of weight decay; linear warmup then cosine to min_lr.
torchvision's ConvNet recipe (configs/optim/sgd.yaml, claim C8): SGD with classical
momentum (timm's "sgd" is Nesterov unless optim.nesterov=false), weight decay on every
parameter (optim.decay_1d=true), lr divided by 10 at fixed points of the run (step).
The schedule is a pure function of the step, so a resumed run gets the same learning rates.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from timm.optim import create_optimizer_v2

from normbench.config.schema import OptimConfig, defaults_of
from normbench.errors import OptimConfigError

OPTIMIZERS = ("adamw", "adam", "sgd", "lamb", "lion")
FUSED = ("adamw", "adam")  # torch's optimizers with a fused kernel for cpu and cuda (optim.fused)
FUSED_DEVICES = ("cpu", "cuda")
SCHEDULES = ("cosine", "constant", "step")
DEFAULTS = defaults_of(OptimConfig, exclude=())  # for an optim config written by hand without every key


def _complete(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """cfg with the schema's defaults for the keys it leaves out (a dict written by hand)."""
    return {**DEFAULTS, **cfg}


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
    if cfg.get("fused") and cfg["name"] not in FUSED:
        raise OptimConfigError(f"optim.fused = True is not allowed with optim.name = {cfg['name']!r}: torch has a "
                               f"fused kernel for {', '.join(FUSED)}; set optim.fused=null (fused where it exists) or false")
    if not 0 <= cfg["momentum"] < 1:
        raise OptimConfigError(f"optim.momentum = {cfg['momentum']!r} is not allowed: must be in [0, 1)")
    if cfg["name"] == "sgd" and cfg["nesterov"] and cfg["momentum"] == 0:  # torch's SGD would refuse it
        raise OptimConfigError(
            "optim.nesterov = True is not allowed with optim.momentum = 0: set optim.momentum > 0 or optim.nesterov=false"
        )
    milestones = list(cfg["milestones"])
    if not all(0 < m < 1 for m in milestones):
        raise OptimConfigError(
            f"optim.milestones = {milestones!r} is not allowed: each must be a fraction of trainer.max_steps in (0, 1)"
        )
    if not 0 < cfg["step_gamma"] <= 1:
        raise OptimConfigError(f"optim.step_gamma = {cfg['step_gamma']!r} is not allowed: must be in (0, 1]")


def build_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    cfg = _complete(cfg)
    _check(cfg)
    kwargs = {"betas": tuple(cfg["betas"])} if cfg["name"] in ("adamw", "adam", "lamb", "lion") else {}
    if cfg["name"] == "sgd":
        # passed explicitly: timm's registry would otherwise set nesterov=True for "sgd"
        kwargs.update(momentum=cfg["momentum"], nesterov=bool(cfg["nesterov"]))
    if use_fused(cfg, model):
        kwargs["fused"] = True
    # decay_1d: every parameter in one group with the one weight decay, as torchvision's
    # SGD(model.parameters(), weight_decay=...); a list of tensors passes timm's grouping by.
    params = [p for p in model.parameters() if p.requires_grad] if cfg["decay_1d"] else model
    optimizer = create_optimizer_v2(
        params,
        opt=cfg["name"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        filter_bias_and_bn=True,  # given the model (decay_1d false): no weight decay on 1-D parameters
        **kwargs,
    )
    return split_lr_mults(optimizer, model)


def use_fused(cfg: Mapping[str, Any], model: torch.nn.Module) -> bool:
    """Whether the optimizer runs torch's fused kernel (optim.fused: null = where it exists)."""
    if cfg.get("fused") is False or cfg["name"] not in FUSED:
        return False
    devices = sorted({p.device.type for p in model.parameters()})
    if not set(devices) <= set(FUSED_DEVICES):
        if cfg.get("fused"):
            raise OptimConfigError(f"optim.fused = True is not allowed with parameters on {', '.join(devices)}: torch's "
                                   f"fused {cfg['name']} runs on {', '.join(FUSED_DEVICES)}; set optim.fused=null or false")
        return False
    return True


def split_lr_mults(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Parameters a module asks a learning-rate multiple for (its `lr_mults()`: DyT's
    norm.alpha_lr_mult) move into their own group at lr * mult, keeping the weight decay of the
    group they came from (none for alpha, a 1-D parameter, unless optim.decay_1d). The schedule
    scales every group's lr alike."""
    mults: dict[int, float] = {}
    for module in model.modules():
        hook = getattr(module, "lr_mults", None)
        if callable(hook):
            mults.update({id(p): float(m) for p, m in hook().items() if p.requires_grad and m != 1})
    if not mults:
        return optimizer
    extra: dict[tuple[int, float], dict] = {}
    for i, group in enumerate(list(optimizer.param_groups)):
        keep = [p for p in group["params"] if id(p) not in mults]
        for p in group["params"]:
            if id(p) in mults:
                g = extra.setdefault((i, mults[id(p)]), {k: v for k, v in group.items() if k != "params"} | {
                    "params": [], "lr": group["lr"] * mults[id(p)]})
                g["params"].append(p)
        group["params"] = keep
    optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
    for g in extra.values():
        optimizer.add_param_group(g)
    return optimizer


def lr_factor(
    step: int,
    max_steps: int,
    warmup_steps: int,
    min_lr_ratio: float,
    schedule: str,
    milestones: Sequence[float] = (),
    step_gamma: float = 0.1,
) -> float:
    """Multiplier of the base lr at `step` (0-based): linear warmup, then cosine, constant or
    step (step_gamma ** the number of milestones reached; milestone m is reached at step
    round(m * max_steps), counted from step 0 like torchvision's epochs)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return step_gamma ** sum(step >= round(m * max_steps) for m in milestones)
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], max_steps: int):
    cfg = _complete(cfg)
    _check(cfg)
    milestones, gamma = tuple(cfg["milestones"]), cfg["step_gamma"]

    def factor(step: int) -> float:
        return lr_factor(step, max_steps, cfg["warmup_steps"], cfg["min_lr_ratio"], cfg["schedule"], milestones, gamma)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
