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


ACC = Compare()
BPB = Compare(higher=False, floor=0.01, decimals=3)

score, margin, better, not_worse, show = ACC.score, ACC.margin, ACC.better, ACC.not_worse, ACC.show
