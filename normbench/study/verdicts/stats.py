"""The statistics a verdict rests on: a confidence interval of the difference between two cells,
and the three outcomes it allows (holds, does not hold, inconclusive).

Why a module of its own: a verdict must say no more than its numbers. "A beats B" holds only when
the interval of A - B excludes 0 in A's favour; "A matches B" holds only when the whole interval
lies inside an equivalence margin stated in advance (absence of a difference is not evidence of
a match). Fewer than MIN_N runs a side is inconclusive whatever the means.

The interval: a two-sided t-interval at CONF (90 %). Runs are paired by seed where both cells
share at least MIN_N seeds (the difference per seed, then its mean and standard error: pairing
removes what the seed does to both); otherwise Welch's interval of the difference of means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"
CONF = 0.90
MIN_N = 3

# Student's t, the 0.95 quantile (a two-sided 90 % interval), df 1..30; above 30 the
# Cornish-Fisher expansion below is within 0.001 of the exact value.
_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771, 1.761,
        1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701,
        1.699, 1.697)
_Z95 = 1.6448536269514722


def t95(df: float) -> float:
    """The 0.95 quantile of Student's t with `df` degrees of freedom (Welch's df may be fractional:
    the table is interpolated linearly)."""
    if df < 1:
        return math.inf
    if df <= 30:
        lo = int(math.floor(df))
        if lo == df or lo == 30:
            return _T95[lo - 1]
        w = df - lo
        return (1 - w) * _T95[lo - 1] + w * _T95[lo]
    z = _Z95
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Diff:
    """A - B (signed so that positive means A is better), its interval and what it stands on."""

    mean: float
    lo: float
    hi: float
    n_a: int
    n_b: int
    paired: bool

    def text(self, unit: str, decimals: int) -> str:
        f = lambda v: "∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:+.{decimals}f}"  # noqa: E731
        how = f"paired by seed, n={self.n_a}" if self.paired else f"n={self.n_a}/{self.n_b}"
        return f"{f(self.mean)} {unit} [{f(self.lo)}, {f(self.hi)}] ({int(CONF * 100)} % CI, {how})"


def by_seed(values: Sequence[tuple[Any, float]]) -> dict[Any, float]:
    return {seed: v for seed, v in values}


def difference(a: Sequence[tuple[Any, float]], b: Sequence[tuple[Any, float]], higher: bool = True) -> Diff | None:
    """The interval of A - B from (seed, value) pairs of each side; None when a side has no value.
    `higher`: whether larger values are better (accuracy) or smaller (a loss): the result is
    signed so that positive is A better either way."""
    if not a or not b:
        return None
    sign = 1.0 if higher else -1.0
    sa, sb = by_seed(a), by_seed(b)
    common = [s for s in sa if s in sb and s is not None]
    if len(common) >= MIN_N:
        d = [sign * (sa[s] - sb[s]) for s in common]
        m, se, df = _mean(d), _sd(d) / math.sqrt(len(d)), len(d) - 1
        half = t95(df) * se
        return Diff(m, m - half, m + half, len(d), len(d), True)
    va, vb = [v for _, v in a], [v for _, v in b]
    m = sign * (_mean(va) - _mean(vb))
    if len(va) < 2 or len(vb) < 2:
        return Diff(m, -math.inf, math.inf, len(va), len(vb), False)
    qa, qb = _sd(va) ** 2 / len(va), _sd(vb) ** 2 / len(vb)
    se = math.sqrt(qa + qb)
    if se == 0:
        return Diff(m, m, m, len(va), len(vb), False)
    df = (qa + qb) ** 2 / (qa ** 2 / (len(va) - 1) + qb ** 2 / (len(vb) - 1))
    half = t95(df) * se
    return Diff(m, m - half, m + half, len(va), len(vb), False)


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def _sd(v: Sequence[float]) -> float:
    """The sample standard deviation (n - 1); 0 for a single value."""
    if len(v) < 2:
        return 0.0
    m = _mean(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def too_few(d: Diff | None) -> str | None:
    """Why `d` cannot decide anything (no numbers, or fewer than MIN_N runs a side), else None."""
    if d is None:
        return "no numbers on one side"
    if min(d.n_a, d.n_b) < MIN_N:
        return f"n = {d.n_a}/{d.n_b}, fewer than {MIN_N} runs a side"
    return None


def beats(d: Diff | None, margin: float) -> str:
    """"A beats B": holds when the interval excludes 0 in A's favour; does not hold when it
    excludes 0 in B's favour or lies inside (-margin, margin) (equivalent: no real gain);
    inconclusive otherwise or with too few runs."""
    if too_few(d):
        return UNSURE
    if d.lo > 0:
        return HOLDS
    if d.hi < 0 or (-margin < d.lo and d.hi < margin):
        return FAILS
    return UNSURE


def matches(d: Diff | None, margin: float) -> str:
    """"A matches B" (equivalence): holds when the whole interval lies inside [-margin, margin];
    does not hold when it lies wholly outside (A better or worse by more than the margin);
    inconclusive otherwise (the data cannot tell) or with too few runs."""
    if too_few(d):
        return UNSURE
    if -margin <= d.lo and d.hi <= margin:
        return HOLDS
    if d.lo > margin or d.hi < -margin:
        return FAILS
    return UNSURE


def not_worse(d: Diff | None, margin: float) -> str:
    """"A is not worse than B" (non-inferiority): holds when the interval's lower end is above
    -margin; does not hold when the whole interval is below -margin; inconclusive otherwise."""
    if too_few(d):
        return UNSURE
    if d.lo > -margin:
        return HOLDS
    if d.hi < -margin:
        return FAILS
    return UNSURE


def bracketed(grid: Sequence[float], best: float) -> bool:
    """Whether the best value of a searched grid lies inside it, not at its edge. A grid of one
    value was not searched: nothing to bracket (True)."""
    points = sorted(set(grid))
    return len(points) < 2 or points[0] < best < points[-1]
