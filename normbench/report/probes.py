"""The numbers behind the probe figures: which layer is "first"/"last", alpha against 1/std
(claim C4) with Pearson's r, and the share of S-curve points in the linear range (C9).

Kept apart from the plotting so tables and tests use the same numbers the figures show.

Linear range (the S-curve figure and scurve.csv). For each sampled token t, fit its points
by least squares to a line y = s_t * (x - c_t): s_t is the token's slope and c_t where its
line crosses zero (for LayerNorm exactly 1/std_t and the token mean, since y = (x - mean_t)
/ std_t). The bulk slope k is the median of s_t over the tokens. A point is in the linear
range when its output is within `tolerance` (default 0.1) of the bulk line:

    |y - k (x - c_t)| <= tolerance * max(1, |k (x - c_t)|)

that is within 10 % of the line, or within 0.1 of it near the centre (|k (x - c_t)| < 1)
where a relative error means nothing. For y = tanh(x) this is |x| <~ 0.72. Points out of it
are those one straight line does not describe: the squashed extremes of tokens with a large
std that bend the pooled cloud into an S (or, for DyT, the saturated part of tanh).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from normbench.report.errors import ReportError
from normbench.report.runs import Run, to_float
from normbench.report.spec import LAYER_WORDS


# -- layers -------------------------------------------------------------------------
def layer_order(run: Run, kind: str = "stats") -> list[str]:
    """The run's probed layers, first to last by depth_index (the order in the model)."""
    depth: dict[str, float] = {}
    for line in run.probe_lines(kind):
        name = line.get("layer")
        if name is not None and name not in depth:
            d = line.get("depth_index")
            depth[name] = d if isinstance(d, (int, float)) else math.inf
    return sorted(depth, key=lambda n: (depth[n], n))


def resolve_layer(run: Run, selector: Any, kind: str = "stats") -> str | None:
    """The run's layer for a selector: first, middle, last, a depth index (negative counts
    from the end), or a qualified name; None when the run has no such layer."""
    order = layer_order(run, kind)
    if not order:
        return None
    if selector == "first":
        return order[0]
    if selector == "last":
        return order[-1]
    if selector == "middle":
        return order[(len(order) - 1) // 2]
    if isinstance(selector, int):
        if selector < 0:
            return order[selector] if -selector <= len(order) else None
        for line in run.probe_lines(kind):
            if line.get("depth_index") == selector:
                return line.get("layer")
        return None
    return selector if selector in order else None


def check_layers(runs: Sequence[Run], selectors: Sequence[Any], where: str, kind: str = "stats") -> None:
    """A named layer or depth index that no run has is an error that lists the layers there are."""
    probed = [r for r in runs if r.probe_lines(kind)]
    if not probed:
        return  # no probes at all is normal: the figure is skipped
    for i, sel in enumerate(selectors):
        if sel in LAYER_WORDS:
            continue
        if not any(resolve_layer(r, sel, kind) for r in probed):
            names = layer_order(probed[0], kind)
            raise ReportError(f"{where}[{i}] = {sel!r} matches no probed layer ({kind} lines); allowed: "
                              f"{', '.join(LAYER_WORDS)}, a depth index 0..{len(names) - 1} or a layer name such as "
                              f"{', '.join(names[:4])}{', ...' if len(names) > 4 else ''}")


def layer_series(run: Run, layer: str, stat: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one stat of one layer over training, non-finite values dropped."""
    steps, values = [], []
    for line in run.probe_lines("stats"):
        if line.get("layer") == layer:
            v = to_float(line.get(stat))
            if v is not None and math.isfinite(v):
                steps.append(int(line["step"]))
                values.append(v)
    return steps, values


# -- alpha vs 1/std (C4) --------------------------------------------------------------
def alpha_points(run: Run, step: str | int = "last") -> list[dict]:
    """One point per layer with a learnable alpha (DyT): alpha and inv_std at one probe step.

    step "last": the last step at which the run has a finite (alpha, inv_std) pair (a diverged
    run's last probe may be NaN); an int: the last probe step at or before it.
    """
    by_step: dict[int, list[dict]] = {}
    for line in run.probe_lines("stats"):
        alpha, inv = to_float(line.get("alpha")), to_float(line.get("inv_std"))
        if alpha is None or inv is None or not (math.isfinite(alpha) and math.isfinite(inv)):
            continue
        by_step.setdefault(int(line["step"]), []).append(
            {"layer": line.get("layer"), "depth_index": line.get("depth_index"), "norm": line.get("norm"),
             "step": int(line["step"]), "alpha": alpha, "inv_std": inv})
    steps = sorted(s for s in by_step if step == "last" or s <= step)
    return by_step[steps[-1]] if steps else []


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's correlation coefficient; None for fewer than 3 points or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"pearson_r: {len(x)} x values but {len(y)} y values")
    if len(x) < 3:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if denom == 0.0:
        return None
    return float((dx * dy).sum() / denom)


# -- S-curve linear range (C9) --------------------------------------------------------
@dataclass
class LinearRange:
    share: float  # of all points, in [0, 1]
    inside: list[np.ndarray]  # per token: a bool per point
    bulk_slope: float  # k: the median of the tokens' slopes
    slopes: np.ndarray  # s_t per token
    centres: np.ndarray  # c_t per token (where its line crosses y = 0)
    points: int


def token_lines(x_tokens: Sequence[Sequence[float]], y_tokens: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares y = s (x - c) per token: (slopes, centres); a token whose x does not vary
    gets slope NaN and centre its mean."""
    slopes, centres = [], []
    for xs, ys in zip(x_tokens, y_tokens):
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        if len(x) < 2 or np.ptp(x) == 0:
            slopes.append(np.nan)
            centres.append(float(x.mean()) if len(x) else 0.0)
            continue
        xm, ym = x.mean(), y.mean()
        s = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
        b = ym - s * xm
        slopes.append(s)
        centres.append(float(-b / s) if abs(s) > 1e-12 else float(xm))
    return np.array(slopes), np.array(centres)


def linear_range(x_tokens: Sequence[Sequence[float]], y_tokens: Sequence[Sequence[float]],
                 tolerance: float = 0.1) -> LinearRange:
    """Which S-curve points are in the linear range (see the module docstring)."""
    slopes, centres = token_lines(x_tokens, y_tokens)
    finite = slopes[np.isfinite(slopes)]
    k = float(np.median(finite)) if len(finite) else 0.0
    inside, n_in, n_all = [], 0, 0
    for xs, ys, c in zip(x_tokens, y_tokens, centres):
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        line = k * (x - c)
        mask = np.isfinite(x) & np.isfinite(y) & (np.abs(y - line) <= tolerance * np.maximum(1.0, np.abs(line)))
        inside.append(mask)
        n_in += int(mask.sum())
        n_all += len(x)
    return LinearRange(share=n_in / n_all if n_all else float("nan"), inside=inside, bulk_slope=k,
                       slopes=slopes, centres=centres, points=n_all)


def scurve_line(run: Run, layer: str, step: str | int = "last") -> dict | None:
    """The run's scurve sample of a layer at a step ("last", or the last one at or before an int)."""
    lines = [ln for ln in run.probe_lines("scurve") if ln.get("layer") == layer and (step == "last" or ln["step"] <= step)]
    return max(lines, key=lambda ln: ln["step"]) if lines else None


def as_floats(rows: Sequence[Sequence[Any]]) -> list[list[float]]:
    """Nested JSON numbers (with "nan"/"inf" strings) as floats."""
    return [[f if (f := to_float(v)) is not None else float("nan") for v in row] for row in rows]
