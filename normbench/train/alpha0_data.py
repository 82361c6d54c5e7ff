"""norm.alpha0_mode=data: each DyT layer starts at alpha = norm.alpha0_c / std(its input).

The rule under test (issue 26, study 3) is "alpha0 * std(input at init) ~ 1". Like LSUV, the
layers are calibrated in forward order, each on the input its calibrated predecessors give it:
one forward of the fixed probe batch in eval mode, a pre-hook on each layer setting its alpha
from the input it is about to see. The result is recorded in the run folder (ALPHA0_FILE), and a
resumed run takes alpha from its checkpoint instead of calibrating again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from normbench.models.find_norms import norm_layers

ALPHA0_FILE = "alpha0_data.json"


def data_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The norm layers asking for a data-driven alpha0."""
    return [(n, m) for n, m in norm_layers(model) if getattr(m, "alpha0_mode", "fixed") == "data"]


@torch.no_grad()
def calibrate_alpha0(model: nn.Module, batch: torch.Tensor | tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    """Set alpha0 = alpha0_c / std(input) in every data-mode layer, in forward order; returns
    {layer: {"order", "input_std", "alpha0_c", "alpha0"}} ({} when no layer asks for it)."""
    layers = data_layers(model)
    if not layers:
        return {}
    found: dict[str, dict[str, Any]] = {}

    def hook(name: str):
        def fn(module: nn.Module, args: tuple) -> None:
            if name in found:  # a layer called twice is calibrated on its first input
                return
            std = args[0].detach().float().std().item()
            if not std > 0:  # zero or NaN
                raise ValueError(f"norm.alpha0_mode = 'data' cannot calibrate {name}: its input's std is {std} "
                                 f"on the probe batch; allowed: a layer whose input varies (or norm.alpha0_mode=fixed)")
            module.set_alpha0(module.alpha0_c / std)
            found[name] = {"order": len(found), "input_std": std, "alpha0_c": module.alpha0_c, "alpha0": module.alpha0}
        return fn

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in layers]
    was_training = model.training
    model.eval()
    try:
        model(*batch) if isinstance(batch, tuple) else model(batch)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return found


def write_alpha0(run_dir: Path, found: dict[str, dict[str, Any]]) -> None:
    (Path(run_dir) / ALPHA0_FILE).write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
