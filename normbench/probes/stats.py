"""What one probe measures of one norm layer, from the layer and its input tensor.

The paper measures the std of a layer's input over all its elements (C4: alpha tracks
1/std), so that is `input_std` here, whatever the layout. `pre_affine` is the norm's output
before weight and bias, the y of the S-curve plots (C9), written from each norm's formula.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

SATURATION_BOUND = 2.0  # |alpha * x| > 2: tanh is within 4 % of +-1, the gradient below 0.08
                        # (Derf: |alpha * x + s| > 2, erf within 0.5 % of +-1, the gradient below 0.021)


def _channels_last(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x as (rows, C): one row per token or pixel."""
    if getattr(module, "layout", "channels_last") == "channels_first" and x.ndim > 2:
        x = x.movedim(1, -1)
    return x.reshape(-1, x.shape[-1])


def _layernorm(m: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    mean = rows.mean(-1, keepdim=True)
    var = rows.var(-1, unbiased=False, keepdim=True)
    return (rows - mean) / torch.sqrt(var + m.eps)


def _rmsnorm(m: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    return rows / torch.sqrt(rows.pow(2).mean(-1, keepdim=True) + m.eps)


def _dyt(m: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    return m._squash_fn(m.alpha.float() * rows)


def _derf(m: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    return torch.erf(m.alpha.float() * rows + m.shift.float())


def _adaln(m: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    # before the per-sample modulation (the conditional norms' affine): the core alone
    return _layernorm(m, rows) if m.core == "layernorm" else torch.tanh(m.alpha.float() * rows)


_PRE_AFFINE: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "layernorm": _layernorm, "rmsnorm": _rmsnorm, "dyt": _dyt, "derf": _derf,
    "adaln": _adaln, "adaln_zero": _adaln,
}


def pre_affine(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """(rows, C) output of the norm before its affine, or None for norms whose output depends on
    more than the row (batch/group/instance statistics)."""
    fn = _PRE_AFFINE.get(getattr(module, "norm_name", ""))
    return None if fn is None else fn(module, _channels_last(module, x.float()))


def _mean_std(t: torch.Tensor | None) -> tuple[float | None, float | None]:
    if t is None:
        return None, None
    t = t.detach().float()
    return t.mean().item(), (t.std().item() if t.numel() > 1 else 0.0)


@torch.no_grad()
def layer_stats(module: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, Any]:
    """One probe line for a norm layer given its input x (and output y)."""
    xf = x.detach().float()
    finite = torch.isfinite(xf)
    nonfinite = int((~finite).sum()) + (int((~torch.isfinite(y)).sum()) if y is not None else 0)
    xs = xf[finite] if nonfinite else xf
    std = xs.std().item() if xs.numel() > 1 else float("nan")
    line: dict[str, Any] = {
        "input_mean": xs.mean().item() if xs.numel() else float("nan"),
        "input_std": std,
        "inv_std": 1.0 / std if std > 0 else float("inf"),
        "nonfinite": nonfinite,
    }
    alpha = getattr(module, "alpha", None)
    if isinstance(alpha, torch.Tensor):
        a = alpha.detach().float()
        line["alpha"] = a.item() if a.numel() == 1 else a.mean().item()
        arg = a * xs  # what the squash sees
        shift = getattr(module, "shift", None)
        if isinstance(shift, torch.Tensor) and shift.numel() == 1:  # Derf: erf(alpha * x + s)
            line["shift"] = shift.detach().float().item()
            arg = arg + line["shift"]
        line["saturation"] = (arg.abs() > SATURATION_BOUND).float().mean().item() if xs.numel() else None
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    if isinstance(weight, torch.Tensor):
        line["weight_mean"], line["weight_std"] = _mean_std(weight)
    if isinstance(bias, torch.Tensor):
        line["bias_mean"], line["bias_std"] = _mean_std(bias)
    running_var = getattr(module, "running_var", None)
    if isinstance(running_var, torch.Tensor):
        rv = running_var.detach().float()
        line["running_mean_mean"] = module.running_mean.detach().float().mean().item()
        line.update(running_var_mean=rv.mean().item(), running_var_min=rv.min().item(), running_var_max=rv.max().item())
    return line


@torch.no_grad()
def scurve_sample(module: nn.Module, x: torch.Tensor, tokens: int, channels: int, seed: int) -> dict | None:
    """`tokens` rows x `channels` channels of (input, output before the affine), chosen by a
    fixed generator so every probe step samples the same places."""
    rows = _channels_last(module, x.detach().float())
    y = pre_affine(module, x.detach())
    if y is None:
        return None
    g = torch.Generator().manual_seed(seed)
    r = torch.randperm(rows.shape[0], generator=g)[:tokens].to(rows.device)
    c = torch.randperm(rows.shape[1], generator=g)[:channels].to(rows.device)
    pick = lambda t: [[round(v, 5) for v in row] for row in t[r][:, c].cpu().tolist()]  # noqa: E731
    return {"x": pick(rows), "y": pick(y)}
