"""What one probe measures of one norm layer, from the layer and its input tensor.

The paper measures the std of a layer's input over all its elements (C4: alpha tracks
1/std), so that is `input_std` here, whatever the layout. It does not say which std it plots,
and a LayerNorm divides each token by its own std, so the per-token std is measured beside it
(`token_std_*`, see `token_stats`). `pre_affine` is the norm's output before weight and bias,
the y of the S-curve plots (C9), written from each norm's formula. `saturation` is the share
of inputs beyond the squash's own knee (see SATURATION_SLOPE).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

# -- saturation: one definition for every squash ------------------------------------------
# A squash f saturates at an argument u (alpha * x, + s for Derf) where its slope is below
# SATURATION_SLOPE times its largest slope: |f'(u)| < SATURATION_SLOPE * max |f'|. The fraction
# is tanh's slope at |u| = 2, sech^2(2) = 0.0707, the bound every squash shared before, so
# tanh's knee stays |u| = 2 (tanh within 4 % of +-1 there). Each squash's knee |u_k| follows:
#   tanh      f' = sech^2(u)                   -> |u| > 2
#   sigmoid   f' / f'(0) = sech^2(u / 2)        -> |u| > 4   (sigmoid(u) = (1 + tanh(u / 2)) / 2)
#   hardtanh  f' = 1 inside |u| < 1, 0 outside -> |u| > 1   (for any fraction in (0, 1))
#   erf       f' / f'(0) = exp(-u^2)           -> |u| > sqrt(-ln 0.0707) = 1.628 (Derf)
#   identity  f' = 1 everywhere                -> never saturates (saturation 0, knee null)
SATURATION_SLOPE = 1.0 - math.tanh(2.0) ** 2
SATURATION_KNEES: dict[str, float | None] = {
    "tanh": 2.0,
    "sigmoid": 4.0,
    "hardtanh": 1.0,
    "erf": math.sqrt(-math.log(SATURATION_SLOPE)),
    "identity": None,
}


def squash_of(module: nn.Module) -> str | None:
    """The squash a scalar-alpha norm applies to alpha * x (the norm's `squash_name`: DyT's
    norm.squash, erf for Derf, tanh for an adaLN with a DyT core); None for a norm without one."""
    return getattr(module, "squash_name", None)


def _channels_last(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x as (rows, C): one row per token (channels_last: every position of every sequence;
    channels_first: every spatial position of every image, its C channels the row; a 2-D
    (B, C) input: every sample)."""
    if getattr(module, "layout", "channels_last") == "channels_first" and x.ndim > 2:
        x = x.movedim(1, -1)
    return x.reshape(-1, x.shape[-1])


def pre_affine(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """(rows, C) output of the norm before its affine (the norm's own `pre_affine`), or None for
    norms whose output depends on more than the row (batch/group/instance statistics)."""
    hook = getattr(module, "pre_affine", None)
    return None if hook is None else hook(_channels_last(module, x.float()))


def _mean_std(t: torch.Tensor | None) -> tuple[float | None, float | None]:
    if t is None:
        return None, None
    t = t.detach().float()
    return t.mean().item(), (t.std().item() if t.numel() > 1 else 0.0)


TOKEN_QUANTILES = (0.1, 0.5, 0.9)


@torch.no_grad()
def token_stats(module: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """The std of each token's input over its channels, summarised over the tokens.

    A token is a row of `_channels_last`: one position of a sequence, one spatial position of
    an image for a channels_first (conv) layout, the C values a LayerNorm there would normalise
    together. Its std is over those C channels, without Bessel's correction (as LayerNorm's).
    Over the tokens: the mean (`token_std_mean`, and `inv_token_std` = 1 / that mean), the
    spread (`token_std_std`, also without correction) and the 10/50/90 % quantiles
    (`token_std_q10`, `_q50`, `_q90`, linear interpolation). Tokens holding a non-finite value
    are left out; none left: {}.
    """
    rows = _channels_last(module, x.detach().float())
    rows = rows[torch.isfinite(rows).all(-1)]
    if not rows.shape[0]:
        return {}
    std = rows.std(-1, unbiased=False)
    qs = torch.quantile(std.double(), torch.tensor(TOKEN_QUANTILES, dtype=torch.float64, device=std.device)).tolist()
    mean = std.mean().item()
    return {"token_std_mean": mean, "token_std_std": std.std(unbiased=False).item(),
            **{f"token_std_q{round(100 * q):02d}": v for q, v in zip(TOKEN_QUANTILES, qs)},
            "inv_token_std": 1.0 / mean if mean > 0 else float("inf")}


def saturation(module: nn.Module, arg: torch.Tensor) -> tuple[float | None, float | None]:
    """(share of arg beyond the knee, the knee) for the module's squash (see SATURATION_SLOPE);
    arg is what the squash sees. identity never saturates: (0.0, None)."""
    squash = squash_of(module)
    if squash not in SATURATION_KNEES or not arg.numel():
        return None, None
    knee = SATURATION_KNEES[squash]
    if knee is None:
        return 0.0, None
    return (arg.abs() > knee).float().mean().item(), knee


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
        **token_stats(module, xf),
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
        line["squash"] = squash_of(module)
        line["saturation"], line["saturation_knee"] = saturation(module, arg)
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
def branch_stats(stream: torch.Tensor, increment: torch.Tensor) -> dict[str, float]:
    """One residual branch: the std over all elements of the stream it reads (`stream_std`) and of
    what it adds (`branch_std`), and `branch_ratio` = branch_std / stream_std, the relative size of
    its update to the stream (non-finite elements left out; nan where nothing finite is left)."""
    def std(t: torch.Tensor) -> float:
        t = t.detach().float()
        t = t[torch.isfinite(t)]
        return t.std().item() if t.numel() > 1 else float("nan")
    s, b = std(stream), std(increment)
    return {"stream_std": s, "branch_std": b, "branch_ratio": b / s if s > 0 else float("nan")}


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
