"""The numbers behind the probe figures: which layer is "first"/"last", alpha against 1/std
(claim C4) with Pearson's r, and the share of S-curve points in the linear range (C9).

Kept apart from the plotting so tables and tests use the same numbers the figures show.

Linear range (the S-curve figure and scurve.csv), after the paper (section 3): LayerNorm's
pooled input-output points form an S-curve "highly similar to a scaled tanh"; its central
part, points with x near zero, is linear, and "most points (~99%) fall in this linear range".
So: fit y ~ a * tanh(b * (x - x0)) to all sampled points of a layer (x0 where their
least-squares line crosses y = 0) by least absolute deviations, so a few extreme points bend
the curve without setting its amplitude. The linear range is the input interval where that tanh stays within `tolerance`
(default 0.1) of its tangent at x0:

    |b (x - x0)| <= u*,   tanh(u*) / u* = 1 - tolerance   (u* = 0.584 for 0.1)

A point is in the linear range when its input lies in that interval. Points outside are the
"extreme" inputs that the S-curve squashes. A layer whose points lie on one straight line
fits with b -> 0 (a tanh flat enough to be a line) and has all its points in the range; for
DyT, y = tanh(alpha x) fits with b = alpha, and the range is |alpha x| <= 0.584.
The paper does not define its range; the share here is comparable across runs and layers,
not necessarily with the paper's ~99 %.

alpha against which 1/std: the paper does not say whether its std is over all of a layer's
input elements (`inv_std`) or per token as LayerNorm divides (`inv_token_std`, 1 / the mean
over tokens of each token's std over its channels); the points carry both, and runs probed
before the per-token std existed carry None for it. `init_points` gives alpha0 times the input
std at step 0 per layer: the scale of the squash's argument before training moved anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from normbench.errors import ReportError
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
             "step": int(line["step"]), "alpha": alpha, "inv_std": inv,
             "inv_token_std": _finite(line.get("inv_token_std"))})  # None: probed before the per-token std
    steps = sorted(s for s in by_step if step == "last" or s <= step)
    return by_step[steps[-1]] if steps else []


def _finite(value: Any) -> float | None:
    v = to_float(value)
    return v if v is not None and math.isfinite(v) else None


def init_points(run: Run) -> list[dict]:
    """Per layer with an alpha, from its probe at step 0 (before any training step): alpha0,
    the input std over all elements and alpha0 times it, and the same with the mean per-token
    std (None for runs probed before it existed). [] for a run without a probe at step 0 (runs
    made before the probe at init existed)."""
    points = []
    for line in run.probe_lines("stats"):
        if line.get("step") != 0:
            continue
        alpha, std = _finite(line.get("alpha")), _finite(line.get("input_std"))
        if alpha is None or std is None:
            continue
        token = _finite(line.get("token_std_mean"))
        points.append({"layer": line.get("layer"), "depth_index": line.get("depth_index"), "norm": line.get("norm"),
                       "alpha0": alpha, "input_std": std, "alpha0_x_std": alpha * std, "token_std": token,
                       "alpha0_x_token_std": None if token is None else alpha * token})
    return points


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
    a: float  # the fitted y ~ a tanh(b (x - x0))
    b: float
    x0: float
    u_star: float  # |b (x - x0)| <= u_star is the linear range
    points: int

    @property
    def x_range(self) -> tuple[float, float]:
        half = self.u_star / self.b if self.b > 0 else math.inf
        return self.x0 - half, self.x0 + half


def tanh_knee(tolerance: float) -> float:
    """u* with tanh(u*) / u* = 1 - tolerance: where tanh leaves its tangent by that fraction."""
    lo, hi = 1e-9, 20.0
    for _ in range(100):  # tanh(u)/u falls monotonically from 1 to 0: bisection
        mid = (lo + hi) / 2
        if math.tanh(mid) / mid > 1 - tolerance:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def zero_crossing(x: np.ndarray, y: np.ndarray) -> float:
    """Where the least-squares line of y on x crosses y = 0: the centre of the S-curve (the
    mean input for LayerNorm, whose outputs average 0; 0 for DyT, whose tanh is odd)."""
    xm, ym = float(x.mean()), float(y.mean())
    var = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum()) / var if var > 0 else 0.0
    return xm - ym / slope if slope > 0 else xm


def fit_scaled_tanh(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(a, b, x0) of y ~ a tanh(b (x - x0)) by least absolute deviations, b >= 0, x0 where
    the least-squares line crosses zero.

    Absolute, not squared, deviations: the few extreme points bend the curve without
    dictating the amplitude the bulk of the points follows. For a fixed b the best a is a
    weighted median (of y / tanh(b u), weights |tanh(b u)|), so b is searched on a log grid
    (from a tanh flat enough to be a straight line over the data to a step), then refined.
    """
    x0 = zero_crossing(x, y)
    u = x - x0
    scale = float(np.abs(u).max()) or 1.0

    def best_on(grid: np.ndarray) -> tuple[float, float, int]:
        t = np.tanh(np.outer(grid, u))
        usable = np.abs(t) > 1e-12
        ratio = np.where(usable, y / np.where(usable, t, 1.0), 0.0)
        weight = np.where(usable, np.abs(t), 0.0)
        order = np.argsort(ratio, axis=1)
        ratio, weight = np.take_along_axis(ratio, order, 1), np.take_along_axis(weight, order, 1)
        cum = np.cumsum(weight, axis=1)
        half = np.argmax(cum >= cum[:, -1:] / 2, axis=1)
        a = ratio[np.arange(len(grid)), half]
        err = np.abs(y[None, :] - a[:, None] * t).sum(1)
        i = int(np.argmin(err))
        return float(a[i]), float(grid[i]), i

    grid = np.geomspace(1e-3, 1e3, 241) / scale
    a, b, i = best_on(grid)
    a, b, _ = best_on(np.geomspace(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], 81))
    return a, b, x0


def linear_range(x_tokens: Sequence[Sequence[float]], y_tokens: Sequence[Sequence[float]],
                 tolerance: float = 0.1) -> LinearRange:
    """Which S-curve points are in the linear range (see the module docstring)."""
    xs = [np.asarray(t, dtype=float) for t in x_tokens]
    ys = [np.asarray(t, dtype=float) for t in y_tokens]
    finite = [np.isfinite(x) & np.isfinite(y) for x, y in zip(xs, ys)]
    x_all = np.concatenate([x[f] for x, f in zip(xs, finite)]) if xs else np.array([])
    y_all = np.concatenate([y[f] for y, f in zip(ys, finite)]) if ys else np.array([])
    u_star = tanh_knee(tolerance)
    if len(x_all) < 2:
        return LinearRange(float("nan"), [np.zeros(len(x), bool) for x in xs], 0.0, 0.0, 0.0, u_star, 0)
    a, b, x0 = fit_scaled_tanh(x_all, y_all)
    inside = [f & (np.abs(b * (x - x0)) <= u_star) for x, f in zip(xs, finite)]
    n_all = sum(len(x) for x in xs)
    return LinearRange(share=sum(int(m.sum()) for m in inside) / n_all, inside=inside, a=a, b=b, x0=x0,
                       u_star=u_star, points=n_all)


def scurve_line(run: Run, layer: str, step: str | int = "last") -> dict | None:
    """The run's scurve sample of a layer at a step ("last", or the last one at or before an int)."""
    lines = [ln for ln in run.probe_lines("scurve") if ln.get("layer") == layer and (step == "last" or ln["step"] <= step)]
    return max(lines, key=lambda ln: ln["step"]) if lines else None


def as_floats(rows: Sequence[Sequence[Any]]) -> list[list[float]]:
    """Nested JSON numbers (with "nan"/"inf" strings) as floats."""
    return [[f if (f := to_float(v)) is not None else float("nan") for v in row] for row in rows]
