"""A forest plot: one row per comparison, its difference and interval in units of its margin, so
comparisons judged in different units (accuracy points, bits per byte) share one axis; the shaded
band is the equivalence margin (inside it: "matches")."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from normbench.report.figures.common import new_figure, save

COLOURS = {"holds": "tab:green", "does not hold": "tab:red", "inconclusive": "tab:gray"}
CLIP = 12.0  # margins: a difference past this is drawn at the edge, as a triangle with its value


def draw_forest(rows: Sequence[tuple[str, tuple[float, float, float] | None, str]], path: Path,
                title: str = "") -> Path:
    """rows: (label, (mean, lo, hi) in margins or None, outcome), drawn top to bottom."""
    fig, axes = new_figure(panel=(9.0, 1.0 + 0.32 * max(1, len(rows))))
    ax = axes[0, 0]
    ax.axvspan(-1, 1, color="tab:green", alpha=0.12, lw=0)
    ax.axvline(0, color="black", lw=0.8)
    for i, (label, diff, outcome) in enumerate(rows):
        y = len(rows) - 1 - i
        if diff is None:
            continue
        mean, lo, hi = (max(-CLIP, min(CLIP, v)) if math.isfinite(v) else math.copysign(CLIP, v) for v in diff)
        colour = COLOURS.get(outcome, "black")
        ax.plot([lo, hi], [y, y], color=colour, lw=2)
        ax.plot([mean], [y], "<" if diff[0] < -CLIP else ">" if diff[0] > CLIP else "o", color=colour)
        if abs(diff[0]) > CLIP:  # off the axis: its value in words
            ax.annotate(f"{diff[0]:+.0f}", (mean, y), xytext=(6 if mean < 0 else -6, 0), textcoords="offset points",
                        ha="left" if mean < 0 else "right", va="center", fontsize=8, color=colour)
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)], fontsize=8)
    ax.set_xlim(-CLIP - 0.5, max(3.0, min(CLIP, max((d[2] for _, d, _ in rows if d and math.isfinite(d[2])),
                                                       default=3.0)) + 0.5))
    ax.set_xlabel("recipe - baseline in margins (> 0: recipe better; band: within the margin; "
                  "bar: 90 % interval)", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return save(fig, Path(path))
