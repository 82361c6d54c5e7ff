"""A verdict per study, drawn from the numbers by a rule written down before the runs:
holds | does not hold at this scale | inconclusive, with the numbers that decide it.

"Better" means better by more than the seed spread (the larger of the two stds, at least
0.3 points); a difference inside it is a tie. A study without a rule gets "inconclusive"
and its README says so.
"""

from __future__ import annotations

from typing import Callable

from normbench.report.spec import parse_spec
from normbench.report.tables import Cell, build_cells

HOLDS, FAILS, UNSURE = "holds", "does not hold at this scale", "inconclusive"


def collect(result, keys: tuple[str, ...], metric: str = "val/acc1") -> dict[tuple, Cell]:
    """The report's cells (a diverged run counts with its best value before divergence) by `keys`."""
    spec = parse_spec({"metric": metric, "group_by": list(keys), "figures": []})
    return {c.row: c for c in build_cells(result.runs, spec)} if result is not None else {}


def show(c: Cell) -> str:
    return c.text(2, with_n=True)


def margin(a: Cell, b: Cell) -> float:
    return max(a.std or 0.0, b.std or 0.0, 0.3)


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
                        ", ".join(f"{lr:g}: {show(c)}" for lr, c in sorted(by_lr.items()))))
    ln = [(k[2], c) for k, c in cells.items() if k[0] == searched[0] and k[1] == main[0] and c.n]
    if len(ln) > 1:
        (s1, c1), (s2, c2) = sorted(ln, key=lambda t: t[0])[:2]
        out.append((f"run length, {searched[0]}", f"{c2.mean - c1.mean:+.2f} points from {s1} to {s2} steps",
                    f"{s1} steps: {show(c1)}; {s2} steps: {show(c2)}"))
    return out


def squash(result) -> list[tuple[str, str, str]]:
    cells = collect(result, keys=("variant", "optim.lr", "trainer.max_steps"))
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
    ident_fails = ident.n_diverged > 0 or better(tanh, ident)
    ordered = not_worse(tanh, c["hardtanh"]) and not_worse(tanh, c["sigmoid"])
    why = (f"at lr {main[0]:g}: tanh {show(tanh)}, hardtanh {show(c['hardtanh'])}, sigmoid {show(c['sigmoid'])}, "
           f"identity {show(ident)}, LN {show(c['layernorm'])}")
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
        why = "; ".join(f"{a} {show(c[a])} vs without alpha {show(c[b])}" for a, b in pairs)
        verdict = HOLDS if wins == len(pairs) else FAILS if losses or wins == 0 else UNSURE
        out.append(("C3 (the learnable alpha helps every squash)", verdict, why))
    return out + recipe_checks(cells, main, ("layernorm", "tanh"))


def _table(result, prefix: str) -> list[dict]:
    """Rows of the first figure table whose name is `prefix` (not its _2, _correlation, ...)."""
    tables = result.figure_output.tables if result is not None else {}
    return tables.get(prefix, [])


def alpha_std(result) -> list[tuple[str, str, str]]:
    """C4 holds when alpha and 1/std correlate strongly (r >= 0.7) across layers at the end, for
    every model, and over training for the followed layers; it fails when any r < 0.3."""
    across = [r for r in _table(result, "alpha_vs_inv_std_correlation") if r.get("variant") != "all"]
    over = _table(result, "alpha_std")
    rs = [r["pearson_r"] for r in across if r.get("pearson_r") is not None]
    rs_t = [r["pearson_r_over_training"] for r in over if r.get("pearson_r_over_training") is not None]
    if not rs:
        return [("C4", UNSURE, "no alpha-vs-1/std correlation computed (no DyT probes yet)")]
    why = ("across layers at the end: " + ", ".join(f"{r['variant']} r = {r['pearson_r']:.2f} ({r['points']} layer-runs)"
                                                   for r in across if r.get("pearson_r") is not None)
           + "; over training: " + ", ".join(f"{r['variant']} {r['layer_name']} r = {r['pearson_r_over_training']:.2f}"
                                             for r in over if r.get("pearson_r_over_training") is not None))
    if min(rs + rs_t) >= 0.7:
        return [("C4 (alpha tracks 1/std)", HOLDS, why)]
    if min(rs + rs_t) < 0.3:
        return [("C4 (alpha tracks 1/std)", FAILS, why)]
    return [("C4 (alpha tracks 1/std)", UNSURE, why)]


def ln_curve(result) -> list[tuple[str, str, str]]:
    """C9 holds when, at the last step, most points lie in the linear range (mean share >= 90 %)
    and the deepest chosen layer bends more than the first (a smaller share); it fails when
    the mean share is below 70 %."""
    rows = _table(result, "scurve")
    if not rows:
        return [("C9", UNSURE, "no S-curve samples")]
    shares = {r["layer_name"]: float(r["linear_share"]) for r in rows}
    first, deep = rows[0]["layer_name"], rows[-1]["layer_name"]
    mean = sum(shares.values()) / len(shares)
    why = ", ".join(f"{k}: {v:.1%}" for k, v in shares.items()) + f" in the linear range at step {rows[0]['step']}"
    claim = "C9 (LN is mostly linear, S-shaped in deeper layers)"
    if mean >= 0.9 and shares[deep] < shares[first]:
        return [(claim, HOLDS, why)]
    if mean < 0.7:
        return [(claim, FAILS, why)]
    return [(claim, UNSURE, why)]


def stability(result) -> list[tuple[str, str, str]]:
    """C2 (stability part) holds when identity diverges at some (lr, depth) where tanh does not;
    C5's "alpha0 = 0.5 is as stable as LN" holds when tanh and LN diverge in the same cells."""
    cells = collect(result, keys=("variant", "model.depth", "optim.lr"))
    diverged = {}
    for (variant, depth, lr), c in cells.items():
        if c.n:
            diverged.setdefault(variant, {})[(depth, lr)] = c.n_diverged > 0
    if not {"tanh", "identity", "layernorm"} <= set(diverged):
        return [("C2/C5 stability", UNSURE, f"variants with runs: {sorted(diverged)}")]
    out = []
    for suffix in ("", "_p4"):
        t, i, ln = (diverged.get(v + suffix, {}) for v in ("tanh", "identity", "layernorm"))
        if not (t and i and ln):
            continue
        show = lambda d: ", ".join(f"depth {k[0]} lr {k[1]:g}" for k, v in sorted(d.items()) if v) or "none"  # noqa: E731
        where = " (49 tokens)" if suffix else " (16 tokens)"
        only_identity = [k for k in i if i[k] and not t.get(k, True)]
        why = f"diverged cells: identity {show(i)}; tanh {show(t)}; LN {show(ln)}"
        if only_identity:
            out.append((f"C2: identity diverges where tanh does not{where}", HOLDS, why))
        elif not any(i.values()):
            out.append((f"C2: identity diverges where tanh does not{where}", FAILS,
                        why + "; identity never diverged on this grid: extend the lr"))
        else:
            out.append((f"C2: identity diverges where tanh does not{where}", UNSURE, why))
        same = all(t.get(k) == ln.get(k) for k in set(t) & set(ln))
        out.append((f"C5: DyT (alpha0 0.5) as stable as LN{where}", HOLDS if same else FAILS, why))
    return out


RULES: dict[str, Callable[..., list[tuple[str, str, str]]]] = {
    "squash": squash, "alpha_std": alpha_std, "ln_curve": ln_curve, "stability": stability,
}


def verdicts(name: str, result) -> list[tuple[str, str, str]]:
    """[(claim, verdict, the numbers behind it)] for study `name` from its report."""
    rule = RULES.get(name)
    if rule is None:
        return [(name, UNSURE, "no rule: read the table and figures")]
    return rule(result)
