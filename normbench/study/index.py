"""results/README.md: every claim of the paper (C1-C10) and every beyond-paper question, with the
verdict each committed study reached and where, in one table.

    python -m normbench.study.index            # writes results/README.md of this checkout

The verdict lines are read from each study's README (results/<name>/README.md, "## Verdict"),
which `python sweep.py study=<name> --report` rebuilds from its run folders; so this table is
as reproducible as they are. A line belongs to claim Cn when it names it ("C1 at 4000 steps:
..."); the others are the study's beyond-paper questions. What each claim's row means, "where
it starts to hold", is written by hand in results/NOTES.md, appended below the table.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from normbench.checkout import checkout_root

CLAIMS = {
    "C1": "DyT matches LN (vision and LLM)",
    "C2": "the squashing function matters; identity diverges",
    "C3": "the learnable alpha matters",
    "C4": "alpha tracks 1/std of its input",
    "C5": "non-LLM models are insensitive to alpha0 in 0.5-1.2",
    "C6": "LLMs: width sets alpha0, attention wants a larger one",
    "C7": "normalization-free baselines lose to LN and DyT",
    "C8": "DyT cannot replace BatchNorm in classic ConvNets",
    "C9": "LN behaves like tanh (S-curves)",
    "C10": "DyT is faster than RMSNorm",
}
VERDICT_LINE = re.compile(r"^- \*\*(?P<claim>.+?): (?P<outcome>holds|does not hold|inconclusive)\.\*\*")
SCALE = re.compile(r"^[a-z0-9_]+-(?P<scale>smoke|gpu)$")  # results/<name>-<scale>; the cpu scale has no suffix


def verdict_lines(readme: Path) -> list[tuple[str, str]]:
    """(claim, outcome) of each verdict line of a study README; context lines (no outcome) are left out."""
    lines, inside = [], False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Verdict"
            continue
        m = VERDICT_LINE.match(line) if inside else None
        if m:
            lines.append((m["claim"], m["outcome"]))
    return lines


def claims_of(claim: str) -> list[str]:
    return [f"C{n}" for n in re.findall(r"\bC(\d+)(?!\d)", claim) if f"C{n}" in CLAIMS]


def build(results: Path) -> str:
    rows: dict[str, list[str]] = {c: [] for c in CLAIMS}
    beyond: list[str] = []
    for readme in sorted(results.glob("*/README.md")):
        study = readme.parent.name
        m = SCALE.match(study)
        if m and m["scale"] == "smoke":
            continue
        scale = m["scale"] if m else "cpu"
        for claim, outcome in verdict_lines(readme):
            row = f"| [{study}]({study}/README.md) | {scale} | {claim} | **{outcome}** |"
            named = claims_of(claim)
            for c in named:
                rows[c].append(row)
            if not named:
                beyond.append(row)
    out = ["# What the committed studies found, claim by claim", "",
           "Built by `python -m normbench.study.index` from the verdict lines of every study README in",
           "results/ (each rebuilt from its run folders by `python sweep.py study=<name> --report`).",
           "Outcomes follow the verdict rules: holds, does not hold, inconclusive (fewer than 3 seeds a",
           "side, an interval that straddles the margin, or an optimum at the edge of its grid).", ""]
    for c, name in CLAIMS.items():
        out += [f"## {c}: {name}", ""]
        if rows[c]:
            out += ["| study | scale | verdict line | outcome |", "| --- | --- | --- | --- |", *rows[c], ""]
        else:
            out += ["No committed study judges it (C10 is measured by the benchmarks in results/perf and "
                    "results/efficiency)." if c == "C10" else "No committed study judges it.", ""]
    out += ["## Beyond the paper", "", "| study | scale | verdict line | outcome |", "| --- | --- | --- | --- |",
            *beyond, ""]
    notes = results / "NOTES.md"
    if notes.exists():
        out += [notes.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    results = checkout_root() / "results"
    path = results / "README.md"
    path.write_text(build(results), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
