"""A verdict per study, drawn from the numbers by a rule written down before the runs:
holds | does not hold at this scale | inconclusive, with the numbers that decide it.

"Better" means better by more than the seed spread (the larger of the two stds, at least
0.3 points); a difference inside it is a tie. A study without a rule gets "inconclusive"
and its README says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from normbench.study.cells import Cell, collect

HOLDS, FAILS, UNSURE = "holds", "does not hold at this scale", "inconclusive"


def margin(a: Cell, b: Cell) -> float:
    return max(a.std, b.std, 0.3)


def better(a: Cell, b: Cell) -> bool:
    return a.mean - b.mean > margin(a, b)


def not_worse(a: Cell, b: Cell) -> bool:
    return a.mean - b.mean >= -margin(a, b)


def _at(cells: dict[tuple, Cell], lr: float, steps: int) -> dict[str, Cell]:
    return {k[0]: v for k, v in cells.items() if k[1:] == (lr, steps)}


def recipe_checks(cells: dict[tuple, Cell], main: tuple, searched: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """What the lr search chose for the baselines, and how far the baseline is from a run twice as long."""
    out = []
    for v in searched:
        by_lr = {k[1]: c for k, c in cells.items() if k[0] == v and k[2] == main[1] and c.n}
        if len(by_lr) > 1:
            best = max(by_lr, key=lambda lr: by_lr[lr].mean)
            out.append((f"lr search, {v}", f"best lr {best:g}" + (" (the study's lr)" if best == main[0] else
                        " (not the study's lr: the other variants may be under-tuned)"),
                        ", ".join(f"{lr:g}: {c}" for lr, c in sorted(by_lr.items()))))
    ln = [(k[2], c) for k, c in cells.items() if k[0] == searched[0] and k[1] == main[0] and c.n]
    if len(ln) > 1:
        (s1, c1), (s2, c2) = sorted(ln)[:2]
        out.append((f"run length, {searched[0]}", f"{c2.mean - c1.mean:+.2f} points from {s1} to {s2} steps",
                    f"{s1} steps: {c1}; {s2} steps: {c2}"))
    return out


def squash(runs_dir: Path) -> list[tuple[str, str, str]]:
    cells = collect(runs_dir, keys=("variant", "optim.lr", "trainer.max_steps"))
    mains = [k[1:] for k in cells if k[0] == "identity"]
    if not mains:
        return [("C2", UNSURE, "no identity runs yet")]
    main = mains[0]  # every variant runs at the identity variant's lr and length
    c = _at(cells, *main)
    need = ["tanh", "hardtanh", "sigmoid", "identity", "layernorm"]
    if any(n not in c or not c[n].n for n in need):
        return [("C2", UNSURE, f"missing variants: {[n for n in need if n not in c or not c[n].n]}")]
    out = []
    ident, tanh = c["identity"], c["tanh"]
    ident_fails = ident.diverged > 0 or better(tanh, ident)
    ordered = not_worse(tanh, c["hardtanh"]) and not_worse(tanh, c["sigmoid"])
    why = (f"at lr {main[0]:g}: tanh {tanh}, hardtanh {c['hardtanh']}, sigmoid {c['sigmoid']}, identity {ident}, "
           f"LN {c['layernorm']}")
    claim = "C2 (squashing matters: identity fails, tanh is not beaten)"
    if ident_fails and ordered:
        out.append((claim, HOLDS, why))
    elif not ident_fails:
        out.append((claim, FAILS, why + "; identity neither diverged nor fell behind tanh"))
    else:
        out.append((claim, UNSURE, why))
    pairs = [(f, f"{f}_noalpha") for f in ("tanh", "hardtanh", "sigmoid") if f"{f}_noalpha" in c and c[f"{f}_noalpha"].n]
    if pairs:
        wins = sum(better(c[a], c[b]) for a, b in pairs)
        losses = sum(better(c[b], c[a]) for a, b in pairs)
        why = "; ".join(f"{a} {c[a]} vs without alpha {c[b]}" for a, b in pairs)
        verdict = HOLDS if wins == len(pairs) else FAILS if losses or wins == 0 else UNSURE
        out.append(("C3 (the learnable alpha helps every squash)", verdict, why))
    return out + recipe_checks(cells, main, ("layernorm", "tanh"))


RULES: dict[str, Callable[[Path], list[tuple[str, str, str]]]] = {"squash": squash}


def verdicts(name: str, runs_dir: Path) -> list[tuple[str, str, str]]:
    rule = RULES.get(name)
    if rule is None:
        return [(name, UNSURE, "no rule: read the table and figures")]
    return rule(runs_dir)
