"""How a verdict compares two cells of a study's table: the interval of their difference
(stats.py: paired by seed, 90 % t-interval) judged against an equivalence margin stated in the
study yaml (`margin`, in the metric's units; the README prints it), with three outcomes.

Accuracy (higher is better; 1 point by default) for the vision studies; bits per byte (lower is
better; 0.02 by default) for the language-model studies; flow matching's val loss for dit_adaln.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from normbench.report.spec import parse_spec
from normbench.report.tables import Cell, build_cells
from normbench.study.verdicts import stats
from normbench.study.verdicts.stats import FAILS, HOLDS, UNSURE, Diff

__all__ = ["ACC", "BPB", "Compare", "FAILS", "HOLDS", "UNSURE", "Verdict", "collect", "main_length", "at_length",
           "length_check", "not_bracketed"]

Verdict = tuple[str, str, str]  # (claim, outcome, the numbers behind it)


def collect(result, keys: tuple[str, ...], metric: str = "val/acc1") -> dict[tuple, Cell]:
    """The report's cells (a diverged run counts with its best value before divergence) by `keys`."""
    spec = parse_spec({"metric": metric, "group_by": list(keys), "figures": []})
    return {c.row: c for c in build_cells(result.runs, spec)} if result is not None else {}


@dataclass(frozen=True)
class Compare:
    metric: str = "val/acc1"
    higher: bool = True    # accuracy: true; a loss or bits per byte: false
    margin: float = 1.0    # the equivalence margin: a difference inside it is no difference
    decimals: int = 2
    unit: str = "points"
    select: str | None = None  # the metric a best lr / alpha0 is picked on (val/* where runs report test/*)

    def pairs(self, c: Cell) -> list[tuple]:
        """(seed, value) of each complete run of the cell that has a finite value."""
        out = []
        for run in c.runs:
            if run.complete:
                v = run.value(self.metric, self.higher)
                if v is not None and math.isfinite(v):
                    out.append((run.seed, v))
        return out

    def diff(self, a: Cell, b: Cell) -> Diff | None:
        """A - B, signed so that positive is A better."""
        return stats.difference(self.pairs(a), self.pairs(b), self.higher)

    def beats(self, a: Cell, b: Cell) -> tuple[str, Diff | None]:
        d = self.diff(a, b)
        return stats.beats(d, self.margin), d

    def matches(self, a: Cell, b: Cell) -> tuple[str, Diff | None]:
        d = self.diff(a, b)
        return stats.matches(d, self.margin), d

    def not_worse(self, a: Cell, b: Cell) -> tuple[str, Diff | None]:
        d = self.diff(a, b)
        return stats.not_worse(d, self.margin), d

    def score(self, c: Cell) -> tuple[bool, float]:
        """A cell's rank for picking a best one (larger first): cells where every run trained rank
        above cells with a diverged run (a diverged run's number is its best before divergence: a
        setting that diverges late would otherwise win on it), then by the mean on the selection
        metric (`select`; the judged metric for runs that lack it: the README then says "selected on
        the test set"), signed so that larger is better; a cell without one (every run diverged
        before its first evaluation) ranks last. For picking a best cell, not for a verdict:
        picking on the judged numbers would flatter the winner."""
        mean = c.mean
        if self.select is not None and self.select != self.metric:
            vals = [v for run in c.runs if run.complete
                    and (v := run.value(self.select, self.higher)) is not None and math.isfinite(v)]
            if vals:
                mean = sum(vals) / len(vals)
        trained = c.n_diverged == 0
        if mean is None:
            return trained, float("-inf")
        return trained, mean if self.higher else -mean

    def show(self, c: Cell) -> str:
        return c.text(self.decimals, with_n=True)

    def show_diff(self, label: str, d: Diff | None) -> str:
        """"DyT - LN: -1.20 points [-2.01, -0.39] (90 % CI, paired by seed, n=3)"."""
        if d is None:
            return f"{label}: no numbers"
        return f"{label}: {d.text(self.unit, self.decimals)}" + (f" ({why})" if (why := stats.too_few(d)) else "")

    def rule(self) -> str:
        """The margin as the README states it."""
        better = "higher" if self.higher else "lower"
        unit = "point" if self.unit == "points" and self.margin == 1 else self.unit
        return f"{self.metric} ({better} is better), equivalence margin {self.margin:g} {unit}"


def main_length(cells: dict[tuple, Cell]) -> int | None:
    """The study's run length (the last key of each cell): the most common one, since a
    run-length check is one longer run."""
    lengths = [k[-1] for k, c in cells.items() if c.n]
    return max(set(lengths), key=lengths.count) if lengths else None


def at_length(cells: dict[tuple, Cell], steps: int | None) -> dict[str, Cell]:
    """{variant: cell} of the cells keyed (variant, max_steps) at `steps`, finished ones only."""
    return {k[0]: c for k, c in cells.items() if k[-1] == steps and c.n}


def seed_matched_gain(short: Cell, long: Cell, cmp: Compare) -> tuple[float, str]:
    """long - short on the seeds both have (a run-length check is usually one seed: comparing it
    with the mean of three would mix the seed's luck into the gain); the means if none is shared."""
    a, b = dict(cmp.pairs(short)), dict(cmp.pairs(long))
    common = sorted((s for s in a if s in b and s is not None), key=str)
    if common:
        gain = sum(b[s] - a[s] for s in common) / len(common)
        return gain, f"seed-matched, seed {', '.join(map(str, common))}"
    return long.mean - short.mean, "means, no seed shared"


def length_check(cells: dict[tuple, Cell], variant: str, cmp: Compare) -> list[Verdict]:
    """How far `variant` at the study's length is from its run twice as long (cells keyed
    (variant, max_steps)): context for every verdict, not a verdict (usually one longer run)."""
    runs = sorted((k[-1], c) for k, c in cells.items() if k[0] == variant and c.n and c.mean is not None)
    if len(runs) < 2:
        return []
    (s1, c1), (s2, c2) = runs[:2]
    gain, how = seed_matched_gain(c1, c2, cmp)
    return [(f"run length, {variant}", f"{gain:+.{cmp.decimals}f} {cmp.unit} from {s1} to {s2} steps ({how})",
             f"{s1} steps: {cmp.show(c1)}; {s2} steps: {cmp.show(c2)}")]


def not_bracketed(name: str, grid, best) -> str | None:
    """A note when `best` sits at the edge of its searched grid: a verdict on it is inconclusive."""
    if stats.bracketed(list(grid), best):
        return None
    return f"not bracketed: {name}'s best {best:g} is at the edge of the grid {min(grid):g}-{max(grid):g}"


ACC = Compare()
BPB = Compare(metric="val/bpb", higher=False, margin=0.02, decimals=3, unit="bits per byte")
