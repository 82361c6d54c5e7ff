"""How a verdict compares two cells: "better" means better by more than the seed spread (the
larger of the two stds, at least a floor); a difference inside it is a tie.

Accuracy (higher is better, floor 0.3 points) for the vision studies; bits per byte (lower is
better, floor 0.01) for the language-model studies.
"""

from __future__ import annotations

from dataclasses import dataclass

from normbench.report.spec import parse_spec
from normbench.report.tables import Cell, build_cells

HOLDS, FAILS, UNSURE = "holds", "does not hold at this scale", "inconclusive"


def collect(result, keys: tuple[str, ...], metric: str = "val/acc1") -> dict[tuple, Cell]:
    """The report's cells (a diverged run counts with its best value before divergence) by `keys`."""
    spec = parse_spec({"metric": metric, "group_by": list(keys), "figures": []})
    return {c.row: c for c in build_cells(result.runs, spec)} if result is not None else {}


@dataclass(frozen=True)
class Compare:
    higher: bool = True   # accuracy: true; a loss or bits per byte: false
    floor: float = 0.3    # the smallest spread that counts as a tie
    decimals: int = 2

    def score(self, c: Cell) -> float:
        """A cell's mean, signed so that larger ranks first; a cell without one (every run
        diverged before its first evaluation) ranks last."""
        if c.mean is None:
            return float("-inf")
        return c.mean if self.higher else -c.mean

    def margin(self, a: Cell, b: Cell) -> float:
        return max(a.std or 0.0, b.std or 0.0, self.floor)

    def better(self, a: Cell, b: Cell) -> bool:
        return self.score(a) - self.score(b) > self.margin(a, b)

    def not_worse(self, a: Cell, b: Cell) -> bool:
        return self.score(a) - self.score(b) >= -self.margin(a, b)

    def show(self, c: Cell) -> str:
        return c.text(self.decimals, with_n=True)


def main_length(cells: dict[tuple, Cell]) -> int | None:
    """The study's run length (the last key of each cell): the most common one, since a
    run-length check is one longer run."""
    lengths = [k[-1] for k, c in cells.items() if c.n]
    return max(set(lengths), key=lengths.count) if lengths else None


def at_length(cells: dict[tuple, Cell], steps: int | None) -> dict[str, Cell]:
    """{variant: cell} of the cells keyed (variant, max_steps) at `steps`, finished ones only."""
    return {k[0]: c for k, c in cells.items() if k[-1] == steps and c.n}


def length_check(cells: dict[tuple, Cell], variant: str, cmp: "Compare", unit: str) -> list[tuple[str, str, str]]:
    """How far `variant` at the study's length is from its run twice as long (cells keyed
    (variant, max_steps))."""
    runs = sorted((k[-1], c) for k, c in cells.items() if k[0] == variant and c.n and c.mean is not None)
    if len(runs) < 2:
        return []
    (s1, c1), (s2, c2) = runs[:2]
    return [(f"run length, {variant}", f"{c2.mean - c1.mean:+.{cmp.decimals}f} {unit} from {s1} to {s2} steps",
             f"{s1} steps: {cmp.show(c1)}; {s2} steps: {cmp.show(c2)}")]


ACC = Compare()
BPB = Compare(higher=False, floor=0.01, decimals=3)

score, margin, better, not_worse, show = ACC.score, ACC.margin, ACC.better, ACC.not_worse, ACC.show
