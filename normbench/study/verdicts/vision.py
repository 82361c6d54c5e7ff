"""Verdict rules of the vision studies (squash, alpha_std, ln_curve, stability, alpha0,
baselines, vision_norms, bn_replace): accuracy, higher is better, judged by the interval of the
paired difference against the study's equivalence margin (compare.ACC: 1 point by default).

Sanity flags: a variant at chance (within 2 points of 100 / classes), or demonstrably below the
study's no-normalization variant of the same model, is a setup failure: it cannot make a claim
hold. A run that ends at chance with a finite loss counts as failed (collapsed), beside a
non-finite divergence.
"""

from __future__ import annotations

import re

from normbench.report.runs import CHANCE_BAND
from normbench.report.tables import Cell
from normbench.study.verdicts import stats
from normbench.study.verdicts.compare import (ACC, FAILS, HOLDS, UNSURE, Compare, Verdict, at_length, collect,
                                              length_check, main_length, not_bracketed, seed_matched_gain)


def chance(c: Cell) -> float:
    """Chance accuracy (%) of the cell's data set: 100 / classes (Run.chance)."""
    return next((r.chance for r in c.runs if r.chance is not None), 10.0)


def at_chance(c: Cell) -> bool:
    return c.mean is not None and c.mean <= chance(c) + CHANCE_BAND


def collapsed(c: Cell, metric: str = "val/acc1") -> int:
    """Runs of the cell that failed: diverged (non-finite), or ended at chance with a finite loss."""
    return sum(r.status == "diverged" or r.at_chance(metric) for r in c.runs)


def failure_state(c: Cell, metric: str = "val/acc1") -> str:
    """A cell's runs as the stability rules read them: "fails" (every run failed), "trains" (none
    did) or "mixed"."""
    bad = collapsed(c, metric)
    return "fails" if bad == c.n else "trains" if bad == 0 else "mixed"


NO_NORM, NO_SQUASH = "no normalization", "no squashing"  # what a floor cell is: norm=identity, or DyT's identity squash


def failed(name: str, c: Cell, cmp: Compare, floor: Cell | None = None, floor_is: str = NO_NORM) -> str | None:
    """How `c` failed: at chance, or demonstrably below the floor (no normalization, or DyT with no
    squashing where the study's floor is that); None when it did not."""
    if at_chance(c):
        return f"{name} is at chance ({cmp.show(c)}; chance {chance(c):g} %)"
    if floor is not None and floor is not c and cmp.beats(floor, c)[0] == HOLDS:
        return f"{name} is below {floor_is} ({cmp.show(c)} vs {cmp.show(floor)})"
    return None


def setup_failure(name: str, c: Cell, cmp: Compare, floor: Cell | None = None, floor_is: str = NO_NORM) -> str | None:
    """Why `c` is a setup failure (`failed`), else None: a verdict on it cannot hold."""
    why = failed(name, c, cmp, floor, floor_is)
    return why and f"setup failure: {why}"


def learnable_beats_frozen(names: tuple[str, str], learn: Cell, frozen: Cell, cmp: Compare,
                           floor: Cell | None = None, floor_is: str = NO_NORM) -> tuple[str, str]:
    """C3 in one cell: the learnable alpha beats the one frozen at the same alpha0. A learnable side
    that is a setup failure (at chance, or below the floor when `floor` is given) cannot make it
    hold: DyT itself fails there. The frozen side's failure alone is no such flag: both start from
    the same init, so what sets the frozen one apart is the freezing, the effect C3 measures; it is
    named as context."""
    o, d = cmp.beats(learn, frozen)
    flag = setup_failure(names[0], learn, cmp, floor, floor_is)
    context = None if flag else failed(names[1], frozen, cmp, floor, floor_is)
    context = context and context + " (both start from the same init: freezing did it)"
    return (UNSURE if flag and o == HOLDS else o), (f"learnable {cmp.show(learn)}, frozen {cmp.show(frozen)}; "
                                                    + cmp.show_diff("learnable - frozen", d)
                                                    + "".join(f"; {t}" for t in (flag, context) if t))


def tracks_inv_std(rs: list[float]) -> str:
    """C4's rule on Pearson r of alpha against 1/std: holds when every r >= 0.7, does not hold when
    any r < 0.3, inconclusive between."""
    low = min(rs)
    return HOLDS if low >= 0.7 else FAILS if low < 0.3 else UNSURE


def _at(cells: dict[tuple, Cell], lr: float, steps: int) -> dict[str, Cell]:
    return {k[0]: v for k, v in cells.items() if k[1:] == (lr, steps)}


def all_of(outcomes: list[str]) -> str:
    """A claim made of parts: holds when every part holds, does not hold when one does not."""
    return HOLDS if all(o == HOLDS for o in outcomes) else FAILS if FAILS in outcomes else UNSURE


def recipe_checks(cells: dict[tuple, Cell], main: tuple, searched: tuple[str, ...], cmp: Compare = ACC) -> list[Verdict]:
    """What the lr search chose for the baselines (flagged when the best sits at the grid's edge),
    and how far the baseline is from a run twice as long (at whichever lr that run was made).
    main = (the study's lr, its length); lr None when every variant has its own search."""
    out = []
    for v in searched:
        by_lr = {k[1]: c for k, c in cells.items() if k[0] == v and k[2] == main[1] and c.n}
        if len(by_lr) > 1:
            best = max(by_lr, key=lambda lr: cmp.score(by_lr[lr]))
            note = "" if main[0] is None else " (the study's lr)" if best == main[0] else \
                " (not the study's lr: the other variants may be under-tuned)"
            edge = not_bracketed("lr", by_lr, best)
            out.append((f"lr search, {v}", f"best lr {best:g}{note}" + (f"; {edge}" if edge else ""),
                        ", ".join(f"{lr:g}: {cmp.show(c)}" for lr, c in sorted(by_lr.items()))))
    lengths: dict[float, list[tuple[int, Cell]]] = {}
    for k, c in cells.items():
        if k[0] == searched[0] and c.n:
            lengths.setdefault(k[1], []).append((k[2], c))
    for lr, ln in sorted(lengths.items()):
        if len(ln) > 1:
            (s1, c1), (s2, c2) = sorted(ln, key=lambda t: t[0])[:2]
            gain, how = seed_matched_gain(c1, c2, cmp)
            out.append((f"run length, {searched[0]}", f"{gain:+.2f} points from {s1} to {s2} steps ({how})",
                        f"at lr {lr:g}: {s1} steps: {cmp.show(c1)}; {s2} steps: {cmp.show(c2)}"))
    return out


def squash(result, cmp: Compare = ACC) -> list[Verdict]:
    """C2 holds when identity fails (diverges in some run, or tanh beats it) and tanh is not
    worse than hardtanh nor sigmoid; does not hold when identity neither diverges nor loses, or
    tanh is worse than one of them. C3 as the paper ran it: each squash with alpha learnable from
    alpha0 beats the same squash with alpha fixed at 1; the two differ in slope at init as well
    as in learnability, so this is not a test of learnability alone. Where Derf ran: the later
    finding that Derf is not worse than tanh (the interval of Derf - tanh above -margin; does not
    hold when wholly below it)."""
    cells = collect(result, keys=("variant", "optim.lr", "trainer.max_steps"), metric=cmp.metric)
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
    beat_ident, d_ident = cmp.beats(tanh, ident)
    ident_fails = HOLDS if ident.n_diverged > 0 else beat_ident
    parts = [cmp.not_worse(tanh, c[f]) for f in ("hardtanh", "sigmoid")]
    verdict = all_of([ident_fails] + [o for o, _ in parts])
    flags = [f for v in ("tanh", "hardtanh", "sigmoid") if (f := setup_failure(v, c[v], cmp))]
    if flags and verdict == HOLDS:
        verdict = UNSURE
    why = (f"at lr {main[0]:g}: tanh {cmp.show(tanh)}, hardtanh {cmp.show(c['hardtanh'])}, sigmoid "
           f"{cmp.show(c['sigmoid'])}, identity {cmp.show(ident)} ({ident.n_diverged}/{ident.n} diverged), "
           f"LN {cmp.show(c['layernorm'])}; " + cmp.show_diff("tanh - identity", d_ident) + "; "
           + "; ".join(cmp.show_diff(f"tanh - {f}", d) for f, (_, d) in zip(("hardtanh", "sigmoid"), parts))
           + "".join(f"; {f}" for f in flags))
    out.append(("C2 (squashing matters: identity fails, tanh is not beaten)", verdict, why))
    pairs = [(f, f"{f}_noalpha") for f in ("tanh", "hardtanh", "sigmoid") if f"{f}_noalpha" in c and c[f"{f}_noalpha"].n]
    if pairs:
        res = [(a, b, *cmp.beats(c[a], c[b])) for a, b in pairs]
        why = "; ".join(f"{a} {cmp.show(c[a])} vs fixed alpha 1 {cmp.show(c[b])}, " + cmp.show_diff(f"{a} - fixed", d)
                        for a, b, _, d in res)
        out.append(("C3 as run (learnable alpha from alpha0 beats alpha fixed at 1, every squash)",
                    all_of([o for _, _, o, _ in res]), why))
    if "derf" in c and c["derf"].n:  # the later finding (arXiv 2512.10938): erf with a learnable shift
        o, d = cmp.not_worse(c["derf"], tanh)
        out.append(("Derf (arXiv 2512.10938) not worse than DyT-tanh", o,
                    f"at lr {main[0]:g}: derf {cmp.show(c['derf'])}, tanh {cmp.show(tanh)}; "
                    + cmp.show_diff("Derf - tanh", d)))
    return out + recipe_checks(cells, main, ("layernorm", "tanh"), cmp)


def _table(result, prefix: str) -> list[dict]:
    """Rows of the first figure table whose name is `prefix` (not its _2, _correlation, ...)."""
    tables = result.figure_output.tables if result is not None else {}
    return tables.get(prefix, [])


def alpha_std(result, cmp: Compare = ACC) -> list[Verdict]:
    """C4, judged once per definition of the input's std (the paper does not say which it plots):
    over all elements of the layer's input, and per token (each token's std over its channels,
    then the mean over tokens; runs probed before that key have none). Holds when alpha and
    1/std correlate strongly (r >= 0.7) across layers at the end, for every model, and over
    training for the followed layers; does not hold when any r < 0.3; inconclusive between."""
    across = [r for r in _table(result, "alpha_vs_inv_std_correlation") if r.get("variant") != "all"]
    over = _table(result, "alpha_std")
    out = []
    for label, key, over_key in (("1/std", "pearson_r", "pearson_r_over_training"),
                                 ("1/token std", "pearson_r_token", "pearson_r_token_over_training")):
        rs = [r[key] for r in across if r.get(key) is not None]
        rs_t = [r[over_key] for r in over if r.get(over_key) is not None]
        if not rs:
            if label == "1/std":
                return [("C4", UNSURE, "no alpha-vs-1/std correlation computed (no DyT probes yet)")]
            out.append((f"C4 (alpha tracks {label})", UNSURE, "not probed: these runs predate the per-token std"))
            continue
        why = ("across layers at the end: " + ", ".join(f"{r['variant']} r = {r[key]:.2f} ({r['points']} layer-runs)"
                                                       for r in across if r.get(key) is not None)
               + "; over training: " + ", ".join(f"{r['variant']} {r['layer_name']} r = {r[over_key]:.2f}"
                                                 for r in over if r.get(over_key) is not None))
        out.append((f"C4 (alpha tracks {label})", tracks_inv_std(rs + rs_t), why))
    return out


def ln_curve(result, cmp: Compare = ACC) -> list[Verdict]:
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


def stability(result, cmp: Compare = ACC) -> list[Verdict]:
    """Where training fails, per (depth, lr) cell: a run fails when it diverges (non-finite) or
    collapses (ends at chance with a finite loss). A cell "fails" when all its runs fail and
    "trains" when none does. C2 (stability part) holds when identity fails in a cell where tanh
    trains; C5's "alpha0 = 0.5 is as stable as LN" holds when tanh and LN fail in the same cells
    and does not hold when one fails where the other trains. Either claim with fewer than 3 runs
    in a cell it rests on is inconclusive (one seed cannot tell a cell that fails from a bad draw)."""
    cells = collect(result, keys=("variant", "model.depth", "optim.lr"), metric=cmp.metric)
    state: dict[str, dict[tuple, tuple[str, int]]] = {}
    for (variant, depth, lr), c in cells.items():
        if c.n:
            state.setdefault(variant, {})[(depth, lr)] = (failure_state(c, cmp.metric), c.n)
    if not {"tanh", "identity", "layernorm"} <= set(state):
        return [("C2/C5 stability", UNSURE, f"variants with runs: {sorted(state)}")]
    out = []
    for suffix in ("", "_p4"):
        t, i, ln = (state.get(v + suffix, {}) for v in ("tanh", "identity", "layernorm"))
        if not (t and i and ln):
            continue
        show = lambda d: ", ".join(f"depth {k[0]} lr {k[1]:g}" for k, v in sorted(d.items()) if v[0] != "trains") \
            or "none"  # noqa: E731
        where = " (49 tokens)" if suffix else " (16 tokens)"
        n_min = min(n for d in (t, i, ln) for _, n in d.values())
        few = f"; n = {n_min} run(s) a cell, fewer than 3" if n_min < 3 else ""
        why = f"failed (diverged or collapsed to chance) in: identity {show(i)}; tanh {show(t)}; LN {show(ln)}" + few
        only_identity = [k for k in i if i[k][0] == "fails" and t.get(k, ("", 0))[0] == "trains"]
        claim = f"C2: identity fails where tanh trains{where}"
        if n_min < 3:
            out.append((claim, UNSURE, why))
        elif only_identity:
            out.append((claim, HOLDS, why))
        elif all(v[0] == "trains" for v in i.values()):
            out.append((claim, FAILS, why + "; identity trained in every cell: extend the lr"))
        else:
            out.append((claim, UNSURE, why))
        common = set(t) & set(ln)
        opposite = [k for k in common if {t[k][0], ln[k][0]} == {"fails", "trains"}]
        same = all(t[k][0] == ln[k][0] for k in common)
        claim = f"C5: DyT (alpha0 0.5) as stable as LN{where}"
        out.append((claim, UNSURE if n_min < 3 else FAILS if opposite else HOLDS if same else UNSURE, why))
    return out


def _largest_good(group: dict[float, Cell], cmp: Compare) -> float | None:
    """The largest alpha0 with no failed run whose accuracy is demonstrably within the margin of
    the group's best (not worse than it: the interval's lower end above -margin); None if none."""
    best = max(group.values(), key=cmp.score)
    good = [a for a, c in group.items() if not collapsed(c, cmp.metric)
            and (c is best or cmp.not_worse(c, best)[0] == HOLDS)]
    return max(good, default=None)


def alpha0(result, cmp: Compare = ACC) -> list[Verdict]:
    """C5a holds when, for every (model size, lr), the best and the worst alpha0 of 0.5-1.2 match
    (the interval of their difference inside the margin); it does not hold when some pair
    differs by more than the margin. C5b holds when the largest good alpha0 (no failed run, not
    worse than the best) is no larger for the large model than the small one, nor at the higher lr
    than the lower, and smaller somewhere; it does not hold when it is larger somewhere and smaller
    nowhere; inconclusive when a largest good alpha0 is the grid's largest (not bracketed)."""
    cells = collect(result, keys=("variant", "optim.lr", "norm.alpha0"), metric=cmp.metric)
    groups: dict[tuple, dict[float, Cell]] = {}
    for (variant, lr, a0), c in cells.items():
        if c.n:
            groups.setdefault((variant, lr), {})[a0] = c
    if not groups:
        return [("C5", UNSURE, "no runs yet")]
    outcomes, why = [], []
    for (variant, lr), group in sorted(groups.items()):
        band = {a: c for a, c in group.items() if 0.5 <= a <= 1.2 and c.mean is not None}
        if len(band) < 2:
            continue
        hi = max(band, key=lambda a: cmp.score(band[a]))
        lo = min(band, key=lambda a: cmp.score(band[a]))
        o, d = cmp.matches(band[hi], band[lo])
        outcomes.append(o)
        why.append(f"{variant} lr {lr:g}: " + cmp.show_diff(f"best {hi:g} - worst {lo:g}", d))
    out = [("C5a (insensitive to alpha0 in 0.5-1.2)", all_of(outcomes) if outcomes else UNSURE, "; ".join(why))]
    good = {k: _largest_good(g, cmp) for k, g in groups.items()}
    edges = [f"{v} lr {lr:g}" for (v, lr), a in good.items() if a is not None and a == max(groups[(v, lr)])]
    good = {k: a for k, a in good.items() if a is not None}
    variants, lrs = sorted({k[0] for k in good}), sorted({k[1] for k in good})
    pairs = [((v, lrs[i]), (v, lrs[i + 1])) for v in variants for i in range(len(lrs) - 1)]
    if {"small", "large"} <= set(variants):
        pairs += [(("small", lr), ("large", lr)) for lr in lrs]
    pairs = [(a, b) for a, b in pairs if a in good and b in good]
    smaller = sum(good[b] < good[a] for a, b in pairs)
    larger = sum(good[b] > good[a] for a, b in pairs)
    why = "largest good alpha0: " + ", ".join(f"{v} lr {lr:g}: {good[(v, lr)]:g}" for v, lr in sorted(good))
    verdict = HOLDS if smaller and not larger else FAILS if larger and not smaller else UNSURE
    if edges and verdict != FAILS:
        verdict = UNSURE
        why += f"; not bracketed: the largest alpha0 tried is still good for {', '.join(edges)}"
    out.append(("C5b (a larger model or lr needs a smaller alpha0)", verdict, why))
    return out


def baselines(result, cmp: Compare = ACC) -> list[Verdict]:
    """C7, each method at its best lr (by mean over seeds on the selection metric, over every lr it
    ran: a method's own search may go past the shared grid; a verdict resting on a best lr at the
    edge of its grid is inconclusive): Fixup and SkipInit lose to both LN and DyT (each beaten);
    sigmaReparam matches LN; DyT is not worse than LN; Fixup and SkipInit prefer a lower lr than LN
    or fail where LN does not."""
    cells = collect(result, keys=("variant", "optim.lr", "trainer.max_steps"), metric=cmp.metric)
    steps = main_length(cells)  # a search run may be longer
    if steps is None:
        return [("C7", UNSURE, "no runs yet")]
    by_lr: dict[str, dict[float, Cell]] = {}
    for (v, lr, s), c in cells.items():
        if s == steps and c.n:
            by_lr.setdefault(v, {})[lr] = c
    need = ("layernorm", "dyt", "fixup", "skipinit", "sigma_reparam")
    if any(v not in by_lr for v in need):
        return [("C7", UNSURE, f"missing variants: {[v for v in need if v not in by_lr]}")]
    best = {v: max(g.items(), key=lambda t: cmp.score(t[1])) for v, g in by_lr.items()}
    b = {v: c for v, (_, c) in best.items()}
    shown = need + (("dyt_a2",) if "dyt_a2" in by_lr else ())  # DyT at alpha0 2.0, where the study runs it
    edge = {v: not_bracketed(f"{v} lr", by_lr[v], best[v][0]) for v in shown}
    at = ", ".join(f"{v} {cmp.show(best[v][1])} at lr {best[v][0]:g}" for v in need)
    failed = {v: [lr for lr, c in sorted(g.items()) if collapsed(c, cmp.metric)] for v, g in by_lr.items()}
    div = "; failed (diverged or collapsed) at lr: " + ", ".join(f"{v} {failed[v] or 'none'}" for v in shown)

    def judged(claim: str, outcome: str, why: str, rests_on: tuple[str, ...]) -> Verdict:
        flags = [edge[v] for v in rests_on if edge[v]]
        return (claim, UNSURE if flags else outcome, why + "".join(f"; {f}" for f in flags))

    lose = [(f"{s} - {f}", *cmp.beats(b[s], b[f])) for f in ("fixup", "skipinit") for s in ("layernorm", "dyt")]
    out = [judged("C7: Fixup and SkipInit lose to LN and DyT", all_of([o for _, o, _ in lose]),
                  at + "; " + "; ".join(cmp.show_diff(lbl, d) for lbl, _, d in lose), need[:4])]
    o, d = cmp.matches(b["sigma_reparam"], b["layernorm"])
    out.append(judged("C7: sigmaReparam matches LN", o, cmp.show_diff("sigmaReparam - LN", d),
                      ("sigma_reparam", "layernorm")))
    o, d = cmp.not_worse(b["dyt"], b["layernorm"])
    out.append(judged("C1/C7: DyT not worse than LN", o, cmp.show_diff("DyT - LN", d), ("dyt", "layernorm")))
    if "dyt_a2" in b:  # DyT at alpha0 2.0 (configs/study/baselines.yaml): the paper's 0.5, or DyT?
        a2 = b["dyt_a2"]
        lose = [(f"dyt_a2 - {f}", *cmp.beats(a2, b[f])) for f in ("fixup", "skipinit")]
        out.append(judged("C7 (DyT at alpha0 2.0): Fixup and SkipInit lose to it", all_of([o for _, o, _ in lose]),
                          f"dyt_a2 {cmp.show(a2)} at lr {best['dyt_a2'][0]:g}; "
                          + "; ".join(cmp.show_diff(lbl, d) for lbl, _, d in lose), ("dyt_a2", "fixup", "skipinit")))
        o, d = cmp.not_worse(a2, b["layernorm"])
        out.append(judged("C1/C7 (DyT at alpha0 2.0): not worse than LN", o, cmp.show_diff("dyt_a2 - LN", d),
                          ("dyt_a2", "layernorm")))
    ln_lr, ln_fail = best["layernorm"][0], set(failed["layernorm"])
    lower = [best[f][0] < ln_lr or bool(set(failed[f]) - ln_fail) for f in ("fixup", "skipinit")]
    out.append(judged("C7: Fixup and SkipInit need lower learning rates",
                      HOLDS if all(lower) else FAILS if not any(lower) else UNSURE,
                      "best lr: " + ", ".join(f"{v} {best[v][0]:g}" for v in shown) + div,
                      ("layernorm", "fixup", "skipinit")))
    # LN's lr search, and sigmaReparam's, which runs on past the shared grid (configs/study/baselines.yaml)
    return out + recipe_checks(cells, (None, steps), ("layernorm", "sigma_reparam"), cmp)


def _by_variant_at_length(result, cmp: Compare) -> tuple[dict[str, Cell], list[Verdict]]:
    """{variant: cell} at the study's run length, and the run-length check of each variant that
    also has a longer run."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=cmp.metric)
    steps = main_length(cells)
    c = {v: cell for v, cell in at_length(cells, steps).items() if cell.mean is not None}
    longer = sorted({k[0] for k, cell in cells.items() if cell.n and k[-1] != steps})
    return c, [row for v in longer for row in length_check(cells, v, cmp)]


def _gap(r: dict) -> str:
    return (f"{r['label']} vs {r['reference']}: mean |gap| {r['mean_abs_gap']:.4f} "
            f"({100 * r['relative_gap']:.1f} % of the reference's loss), final {r['final_gap']:+.4f}")


def dyt_by_alpha0(c: dict[str, Cell], model: str) -> dict[float, tuple[str, Cell]]:
    """{alpha0: (variant, cell)} of the model's DyT variants (<model>_dyt, <model>_dyt_*), alpha0
    as the runs' configs have it (vision_norms' vit_dyt_best is alpha0 2.0); a variant whose runs
    disagree on alpha0 is left out, and of two variants at one alpha0 the first by name is kept."""
    out: dict[float, tuple[str, Cell]] = {}
    for v in sorted(c):
        if v != f"{model}_dyt" and not v.startswith(f"{model}_dyt_"):
            continue
        alpha0 = {r.key("norm.alpha0") for r in c[v].runs}
        if len(alpha0) == 1 and None not in alpha0:
            out.setdefault(float(alpha0.pop()), (v, c[v]))
    return out


def pick_best(grid: dict[float, Cell], cmp: Compare, name: str = "alpha0") -> tuple[float, str | None]:
    """The grid value whose cell ranks first (compare.score: on the selection metric, settings
    where every run trained first), and why a verdict on it cannot hold or fail: it sits at the
    edge of the grid run, or it is the only value run (no search)."""
    best = max(grid, key=lambda a: cmp.score(grid[a]))
    if len(grid) == 1:
        return best, f"one {name} run ({best:g}): nothing searched"
    return best, not_bracketed(name, grid, best)


def vision_norms(result, cmp: Compare = ACC) -> list[Verdict]:
    """C1 per model (ViT, ConvNeXt): DyT (alpha0 0.5) matches LN when the interval of DyT - LN
    lies inside the margin; does not hold when it lies wholly outside it. Where a model has DyT at
    more than one alpha0: the same rule for its best alpha0 (picked on the selection metric),
    inconclusive whatever the interval when that best is at the edge of the model's alpha0 grid (a
    larger or smaller alpha0 could change it either way). Where Derf ran (<model>_derf, alpha0 0.5):
    the later finding that Derf is not worse than DyT at the same alpha0 (the interval of Derf - DyT
    above -margin; does not hold when wholly below). The curves are aligned
    when, for DyT vs LN on ViT and on ConvNeXt, the mean |gap| of smoothed train loss (the
    curve_gap table) is below 5 % of LN's mean smoothed loss; not aligned when one is above
    15 %; inconclusive between."""
    c, length = _by_variant_at_length(result, cmp)
    out = []
    for model, name in (("vit", "ViT"), ("convnext", "ConvNeXt")):
        dyt, ln = c.get(f"{model}_dyt"), c.get(f"{model}_layernorm")
        claim = f"C1: DyT matches LN on {name}"
        if dyt is None or ln is None:
            out.append((claim, UNSURE, f"no finished runs of {model}_dyt or {model}_layernorm"))
            continue
        o, d = cmp.matches(dyt, ln)
        others = sorted(v for v in c if v.startswith(f"{model}_") and v not in (f"{model}_layernorm", f"{model}_dyt"))
        why = ", ".join(f"{v} {cmp.show(c[v])}" for v in (f"{model}_layernorm", f"{model}_dyt", *others))
        out.append((claim, o, why + "; " + cmp.show_diff("DyT - LN", d)))
        grid = dyt_by_alpha0(c, model)
        if len(grid) > 1:
            best, edge = pick_best({a: g for a, (_, g) in grid.items()}, cmp)
            v, cell = grid[best]
            o, d = cmp.matches(cell, ln)
            why = (f"best alpha0 {best:g} (picked on {cmp.select or cmp.metric}) of "
                   + ", ".join(f"{a:g} {cmp.show(g)}" for a, (_, g) in sorted(grid.items()))
                   + f"; LN {cmp.show(ln)}; " + cmp.show_diff(f"{v} - LN", d) + (f"; {edge}" if edge else ""))
            out.append((f"C1: the best DyT alpha0 matches LN on {name}", UNSURE if edge else o, why))
        derf = c.get(f"{model}_derf")
        if derf is not None:
            o, d = cmp.not_worse(derf, dyt)
            out.append((f"Derf (arXiv 2512.10938) not worse than DyT on {name}", o,
                        f"Derf {cmp.show(derf)}, DyT {cmp.show(dyt)} (alpha0 0.5 both); "
                        + cmp.show_diff("Derf - DyT", d)))
    rows = {(r["label"], r["reference"]): r for r in _table(result, "curve_gap") if r.get("relative_gap") is not None}
    need = [("vit_dyt", "vit_layernorm"), ("convnext_dyt", "convnext_layernorm")]
    claim = "C1: loss curves aligned"
    if any(p not in rows for p in need):
        out.append((claim, UNSURE, f"no curve_gap numbers for {[p for p in need if p not in rows]}"))
        return out + length
    rel = [rows[p]["relative_gap"] for p in need]
    why = "; ".join(_gap(rows[p]) for p in need)
    others = [_gap(r) for p, r in rows.items() if p not in need]
    why += ("; also " + "; ".join(others)) if others else ""
    out.append((claim, HOLDS if max(rel) < 0.05 else FAILS if max(rel) > 0.15 else UNSURE, why))
    return out + length


def _context(name: str, c: Cell) -> str:
    """"GroupNorm 70.1 ± 0.3 (n=3)", "no norm diverged 3/3", or the number with k/n diverged."""
    if c.status == "failed":
        return f"{name} diverged {c.n_diverged}/{c.n}"
    text = f"{c.mean:.1f}" + (f" ± {c.std:.1f}" if c.std is not None else "") + f" (n={c.n})"
    return f"{name} {text}" + (f", diverged {c.n_diverged}/{c.n}" if c.n_diverged else "")


def bn_replace(result, cmp: Compare = ACC) -> list[Verdict]:
    """C8 per model (ResNet, VGG), DyT with BatchNorm's hyperparameters: it holds when BN beats
    DyT (the interval of BN - DyT above 0); it does not hold when BN does not beat DyT (DyT ahead,
    or the two within the margin). A DyT at chance or below no norm is a setup failure (the signal
    starves, say), not evidence for C8: inconclusive. The same rule for DyT at its best alpha0
    (picked on the selection metric) where a model has DyT at more than one alpha0 (<model>_dyt_*):
    does a DyT that keeps the signal at init land near BN, or near no norm? There "holds" also
    needs the best alpha0 inside its grid (at the edge, a larger or smaller alpha0 might close the
    gap: inconclusive); "does not hold" stands at the edge (another alpha0 could only be better).
    GroupNorm and no norm are context: their numbers and divergences."""
    c, length = _by_variant_at_length(result, cmp)
    out = []
    for model, name in (("resnet", "ResNet"), ("vgg", "VGG")):
        bn, dyt = c.get(f"{model}_batchnorm"), c.get(f"{model}_dyt")
        claim = f"C8: DyT cannot replace BatchNorm in {name}"
        if bn is None or dyt is None:
            out.append((claim, UNSURE, f"no finished runs of {model}_batchnorm or {model}_dyt"))
            continue
        o, d = cmp.beats(bn, dyt)
        flag = setup_failure(f"{model}_dyt", dyt, cmp, c.get(f"{model}_identity"))
        why = f"BN {cmp.show(bn)}, DyT {cmp.show(dyt)}; " + cmp.show_diff("BN - DyT", d) + (f"; {flag}" if flag else "")
        out.append((claim, UNSURE if flag and o == HOLDS else o, why))
        grid = dyt_by_alpha0(c, model)
        if len(grid) > 1:
            best, edge = pick_best({a: g for a, (_, g) in grid.items()}, cmp)
            v, cell = grid[best]
            o, d = cmp.beats(bn, cell)
            none = c.get(f"{model}_identity")
            flag = setup_failure(v, cell, cmp, none)
            why = (f"best alpha0 {best:g} (picked on {cmp.select or cmp.metric}) of "
                   + ", ".join(f"{a:g} {cmp.show(g)}" for a, (_, g) in sorted(grid.items()))
                   + f"; BN {cmp.show(bn)}; " + cmp.show_diff(f"BN - {v}", d)
                   + ("; " + cmp.show_diff(f"{v} - no norm", cmp.diff(cell, none)) if none is not None else "")
                   + "".join(f"; {f}" for f in (flag, edge) if f))
            out.append((f"C8 at DyT's best alpha0: DyT cannot replace BatchNorm in {name}",
                        UNSURE if (flag or edge) and o == HOLDS else o, why))
        rest = [(label, c[f"{model}_{v}"]) for v, label in (("groupnorm", "GroupNorm"), ("identity", "no norm"))
                if f"{model}_{v}" in c]
        if rest:
            steps = lambda cell: ", ".join(str(r.diverged_step) for r in cell.runs if r.status == "diverged")  # noqa: E731
            out.append((f"{name}: GroupNorm and no norm", ", ".join(_context(*t) for t in rest),
                        "; ".join(f"{label} {cmp.show(cell)}" + (f", diverged at steps {steps(cell)}" if steps(cell) else "")
                                  for label, cell in rest)))
    return out + length


def length(result, cmp: Compare = ACC) -> list[Verdict]:
    """The convergence question, per run length (trainer.max_steps): C1 (DyT matches LN, at the
    paper's alpha0 0.5 and at the other DyT variants) and C2's identity part (tanh beats identity,
    or identity fails) at each length; then whether the LN - DyT gap narrows (the per-seed gap at
    the shortest length beats the one at the longest by its interval) and whether it closes:
    holds when DyT (alpha0 0.5) does not match LN at the shortest length and matches it at the
    longest; does not hold when it still does not match at the longest; inconclusive otherwise.
    C3 at each length where a DyT variant has a frozen twin (`<variant>_frozen`: alpha fixed at the
    same alpha0): the learnable alpha beats the frozen one, as alpha_learn judges it at one length,
    with identity (when run) as the floor below which the learnable side is a setup failure.
    C4 at each length for each DyT variant with a learnable alpha, by alpha_std's rule on the
    correlation across layers at the last probe (r >= 0.7 holds, r < 0.3 does not; the report's
    alpha_vs_inv_std figure by variant and length computes it)."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=cmp.metric)
    by: dict[int, dict[str, Cell]] = {}
    for (v, steps), c in cells.items():
        if c.n and steps is not None:
            by.setdefault(int(steps), {})[str(v)] = c
    lengths = sorted(s for s, c in by.items() if "layernorm" in c and "dyt" in c)
    if not lengths:
        return [("C1 by run length", UNSURE, "no length with both layernorm and dyt runs")]
    corr = {(str(r.get("variant")), int(r["trainer.max_steps"])): r
            for r in _table(result, "alpha_vs_inv_std_correlation")
            if r.get("variant") != "all" and isinstance(r.get("trainer.max_steps"), (int, float))}
    out, c1 = [], {}
    for steps in lengths:
        c = by[steps]
        dyts = sorted(k for k in c if k.startswith("dyt"))
        for v in dyts:
            o, d = cmp.matches(c[v], c["layernorm"])
            flag = setup_failure(v, c[v], cmp, c.get("identity"), NO_SQUASH)
            o = UNSURE if flag and o == HOLDS else o
            if v == "dyt":
                c1[steps] = o
            out.append((f"C1 at {steps} steps: {v} matches LN", o,
                        f"LN {cmp.show(c['layernorm'])}, {v} {cmp.show(c[v])}; " + cmp.show_diff(f"{v} - LN", d)
                        + (f"; {flag}" if flag else "")))
        for v in (k for k in dyts if f"{k}_frozen" in c):
            out.append((f"C3 at {steps} steps: {v}'s learnable alpha beats it frozen",
                        *learnable_beats_frozen((v, f"{v}_frozen"), c[v], c[f"{v}_frozen"], cmp,
                                                c.get("identity"), NO_SQUASH)))
        for v in (k for k in dyts if not k.endswith("_frozen") and (k, steps) in corr):
            r = corr[v, steps]
            if r.get("pearson_r") is not None:
                rs = [r["pearson_r"]] + ([r["pearson_r_token"]] if r.get("pearson_r_token") is not None else [])
                out.append((f"C4 at {steps} steps: {v}'s alpha tracks 1/std across layers", tracks_inv_std(rs),
                            f"Pearson r over {r['points']} layer-runs ({r['runs']} runs) at the last probe: "
                            f"{r['pearson_r']:.2f} with 1/std"
                            + (f", {r['pearson_r_token']:.2f} with 1/token std" if r.get("pearson_r_token") is not None else "")))
        if "identity" in c and "dyt" in c:
            o, d = cmp.beats(c["dyt"], c["identity"])
            o = HOLDS if collapsed(c["identity"], cmp.metric) else o
            out.append((f"C2 at {steps} steps: identity fails or loses to tanh", o,
                        f"identity {cmp.show(c['identity'])} ({collapsed(c['identity'], cmp.metric)}/{c['identity'].n} "
                        f"failed); " + cmp.show_diff("tanh - identity", d)))
    first, last = c1[lengths[0]], c1[lengths[-1]]
    gaps = ", ".join(f"{s}: {by[s]['layernorm'].mean - by[s]['dyt'].mean:+.2f}" for s in lengths
                     if None not in (by[s]["layernorm"].mean, by[s]["dyt"].mean))
    if len(lengths) < 2:
        verdict = UNSURE
    elif first != HOLDS and last == HOLDS:
        verdict = HOLDS
    elif last == FAILS:
        verdict = FAILS
    else:
        verdict = UNSURE
    closes = next((s for s in lengths if c1[s] == HOLDS and all(c1[t] == HOLDS for t in lengths if t >= s)), None)
    if len(lengths) >= 2:  # the gap per seed at the shortest length against the longest, paired by seed
        def gaps_of(steps: int) -> list[tuple]:
            ln, dyt = dict(cmp.pairs(by[steps]["layernorm"])), dict(cmp.pairs(by[steps]["dyt"]))
            sign = 1.0 if cmp.higher else -1.0
            return [(seed, sign * (ln[seed] - dyt[seed])) for seed in ln if seed in dyt]

        # the longest length with enough seeds a side (a one-seed longest run cannot decide it)
        enough = [s for s in lengths if min(by[s]["layernorm"].n, by[s]["dyt"].n) >= stats.MIN_N]
        long = enough[-1] if len(enough) >= 2 and enough[0] == lengths[0] else lengths[-1]
        d = stats.difference(gaps_of(lengths[0]), gaps_of(long))
        out.append(("The LN - DyT (alpha0 0.5) gap narrows with training", stats.beats(d, cmp.margin),
                    cmp.show_diff(f"gap at {lengths[0]} - gap at {long} steps", d)))
    out.append(("The LN - DyT (alpha0 0.5) gap closes with training", verdict,
                f"LN - DyT by length (points): {gaps}"
                + (f"; DyT matches LN from {closes} steps on" if closes is not None else "; DyT matches LN at no length")))
    return out


def alpha_learn(result, cmp: Compare = ACC) -> list[Verdict]:
    """C3 as a test of learnability: at each alpha0 (variants learn_<a> and frozen_<a>) a learnable
    alpha beats one frozen at the same alpha0. Holds when it does at every alpha0 run; does not
    hold when at some alpha0 the frozen alpha is as good or better (beats: does not hold);
    inconclusive otherwise. Beside it, each DyT variant against LN (context, not C3)."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=cmp.metric)
    steps = main_length(cells)
    at = at_length(cells, steps)
    alphas = sorted({v.split("_", 1)[1] for v in at if v.startswith(("learn_", "frozen_"))}, key=float)
    out, outcomes = [], []
    for a in alphas:
        learn, frozen = at.get(f"learn_{a}"), at.get(f"frozen_{a}")
        if learn is None or frozen is None:
            continue
        o, why = learnable_beats_frozen((f"learn_{a}", f"frozen_{a}"), learn, frozen, cmp)
        outcomes.append(o)
        out.append((f"C3 at alpha0 {a}: a learnable alpha beats a frozen one", o, why))
    if not outcomes:
        return [("C3: a learnable alpha beats a frozen one", UNSURE, "no alpha0 with both learnable and frozen runs")]
    out.insert(0, ("C3: a learnable alpha beats a frozen one at the same alpha0", all_of(outcomes),
                   f"at alpha0 {', '.join(alphas)}: " + ", ".join(outcomes)))
    if "layernorm" in at:
        for v in (f"{k}_{a}" for a in alphas for k in ("learn", "frozen")):
            if v in at:
                o, d = cmp.matches(at[v], at["layernorm"])
                out.append((f"C1: {v} matches LN", o, cmp.show_diff(f"{v} - LN", d)))
    return out + length_check(cells, "layernorm", cmp)


_ALPHA_KNOB = re.compile(r"dyt(_log)?(?:_lr(\d+(?:\.\d+)?))?")


def alpha_knob(knob: str) -> tuple[str, float] | None:
    """alpha_lr's variant suffix as (parametrisation, alpha's lr multiple): dyt -> (linear, 1),
    dyt_lr100 -> (linear, 100), dyt_log -> (log, 1), dyt_log_lr10 -> (log, 10); None otherwise."""
    m = _ALPHA_KNOB.fullmatch(knob)
    return None if m is None else ("log" if m[1] else "linear", float(m[2] or 1))


def alpha_lr(result, cmp: Compare = ACC) -> list[Verdict]:
    """Does a faster alpha close DyT's gap to LN? Per model (<model>_<variant>), the faster alphas
    are dyt_lr<m> (alpha's lr m x the base lr) and dyt_log[_lr<m>] (alpha = alpha0 * exp(s)).
    The best faster alpha is picked on validation and judged on the reported metric: it matches
    LN (holds for the model) or not (interval wholly outside the margin); a best multiple at the
    edge of its searched grid makes it inconclusive either way. The claim holds when it holds for
    every model; does not hold when it does not for some model; inconclusive otherwise. Each
    faster alpha against LN and against DyT at alpha's own lr is context, as is C4 per variant:
    alpha against 1/std across layers."""
    cells = collect(result, keys=("variant",), metric=cmp.metric)
    at = {k[0]: c for k, c in cells.items() if c.n}
    models = sorted({v.rsplit("_", 1)[0] for v in at if v.endswith("_layernorm")})
    out, per_model = [], {}
    for m in models:
        ln, base = at.get(f"{m}_layernorm"), at.get(f"{m}_dyt")
        knobs = {v.removeprefix(f"{m}_"): alpha_knob(v.removeprefix(f"{m}_")) for v in at if v.startswith(f"{m}_dyt")}
        knobs = {k: pm for k, pm in knobs.items() if pm is not None}
        faster = [k for k, pm in knobs.items() if pm != ("linear", 1.0)]
        for knob in sorted(faster, key=lambda k: knobs[k]):
            c = at[f"{m}_{knob}"]
            o, d = cmp.matches(c, ln)
            flag = setup_failure(f"{m}_{knob}", c, cmp)
            out.append((f"{m}: {knob} matches LN", UNSURE if flag and o == HOLDS else o,
                        f"LN {cmp.show(ln)}, {knob} {cmp.show(c)}; " + cmp.show_diff(f"{knob} - LN", d)
                        + (f"; {flag}" if flag else "")))
            if base is not None:
                o, d = cmp.beats(c, base)
                out.append((f"{m}: {knob} beats DyT at alpha's own lr", o, cmp.show_diff(f"{knob} - dyt", d)))
        if base is not None:
            o, d = cmp.matches(base, ln)
            out.append((f"{m}: dyt (alpha's own lr) matches LN", o, cmp.show_diff("dyt - LN", d)))
        if not faster:
            continue
        best = max(faster, key=lambda k: cmp.score(at[f"{m}_{k}"]))
        o, d = cmp.matches(at[f"{m}_{best}"], ln)
        flag = setup_failure(f"{m}_{best}", at[f"{m}_{best}"], cmp)
        param, mult = knobs[best]
        grid = [pm[1] for pm in knobs.values() if pm[0] == param]
        edge = not_bracketed(f"alpha's lr multiple ({param})", grid, mult) if len(grid) > 1 else None
        o = UNSURE if (flag and o == HOLDS) or edge else o
        per_model[m] = o
        out.append((f"{m}: the best faster alpha (picked on {cmp.select or cmp.metric}) matches LN", o,
                    f"{best}: " + cmp.show_diff(f"{best} - LN", d) + "".join(f"; {n}" for n in (flag, edge) if n)))
    if not per_model:
        return [("A faster alpha closes the gap to LN", UNSURE, "no model with LN and a faster-alpha DyT")]
    out.insert(0, ("A faster alpha closes the gap to LN", all_of(list(per_model.values())),
                   ", ".join(f"{m}: {o}" for m, o in per_model.items())))
    for r in _table(result, "alpha_vs_inv_std_correlation"):
        if r.get("variant") not in (None, "all") and r.get("pearson_r") is not None:
            token = f", 1/token std r = {r['pearson_r_token']:.2f}" if r.get("pearson_r_token") is not None else ""
            out.append((f"C4 context, {r['variant']}", f"alpha vs 1/std across layers: r = {r['pearson_r']:.2f}{token}",
                        f"{r['points']} layer-runs"))
    return out


def alpha0_data(result, cmp: Compare = ACC) -> list[Verdict]:
    """Is alpha0 * std(input at init) ~ 1 the rule behind the best alpha0? Per model
    (<model>_<variant>, the model's name without an underscore; accuracy or bits per byte): the data rule at c = 1 is not worse than the best fixed alpha0 (picked
    on the selection metric) and beats the paper's fixed 0.5. Holds when both hold for every
    model run; does not hold when either does not for some model; inconclusive otherwise.
    Beside it: the best c, each DyT variant against the model's own norm (LN or RMSNorm), and where
    run the control <model>_rule_final_2 (the rule in the blocks, a fixed alpha0 of 2 in the final
    norm) against a fixed 2 everywhere (not worse) and the rule everywhere (beats)."""
    cells = collect(result, keys=("variant",), metric=cmp.metric)
    at = {k[0]: c for k, c in cells.items() if c.n}
    models = sorted({v.split("_", 1)[0] for v in at if "_data_" in v})
    out, outcomes = [], []
    for m in models:
        fixed = {v: c for v, c in at.items() if v.startswith(f"{m}_fixed_")}
        data = {v: c for v, c in at.items() if v.startswith(f"{m}_data_")}
        rule = data.get(f"{m}_data_1")
        if not fixed or rule is None:
            continue
        best_fixed = max(fixed, key=lambda v: cmp.score(fixed[v]))
        o1, d1 = cmp.not_worse(rule, fixed[best_fixed])
        parts = [o1]
        out.append((f"{m}: data rule (c = 1) not worse than the best fixed alpha0", o1,
                    cmp.show_diff(f"data_1 - {best_fixed.split('_', 1)[1]}", d1)))
        if f"{m}_fixed_0.5" in fixed:
            o2, d2 = cmp.beats(rule, fixed[f"{m}_fixed_0.5"])
            parts.append(o2)
            out.append((f"{m}: data rule (c = 1) beats fixed alpha0 0.5", o2, cmp.show_diff("data_1 - fixed_0.5", d2)))
        outcomes.append(all_of(parts))
        best_c = max(data, key=lambda v: cmp.score(data[v]))
        edge = not_bracketed("c", [float(v.rsplit("_", 1)[1]) for v in data], float(best_c.rsplit("_", 1)[1]))
        out.append((f"{m}: best c (picked on {cmp.select or cmp.metric})", f"{best_c.rsplit('_', 1)[1]}" + (f"; {edge}" if edge else ""),
                    ", ".join(f"{v.split('_', 1)[1]} {cmp.show(c)}" for v, c in sorted(at.items()) if v.startswith(m))))
        control = at.get(f"{m}_rule_final_2")  # the rule in the blocks, a fixed 2 in the final norm
        if control is not None and f"{m}_fixed_2" in fixed:
            o, d = cmp.not_worse(control, fixed[f"{m}_fixed_2"])
            out.append((f"{m}: the rule with a fixed 2 in the final norm not worse than a fixed 2 everywhere", o,
                        cmp.show_diff("rule_final_2 - fixed_2", d)))
            o, d = cmp.beats(control, rule)
            out.append((f"{m}: the rule with a fixed 2 in the final norm beats the rule everywhere", o,
                        cmp.show_diff("rule_final_2 - data_1", d)))
        ref = next((r for r in ("layernorm", "rmsnorm") if f"{m}_{r}" in at), None)  # the model's own norm
        if ref is not None:
            short = {"layernorm": "LN", "rmsnorm": "RMSNorm"}[ref]
            for v in sorted({**fixed, **data}):
                o, d = cmp.matches(at[v], at[f"{m}_{ref}"])
                out.append((f"C1: {v} matches {short}", o, cmp.show_diff(f"{v.split('_', 1)[1]} - {short}", d)))
    if not outcomes:
        return [("alpha0 * std(input) ~ 1 is the rule behind the best alpha0", UNSURE,
                 "no model with the data rule (c = 1) and a fixed alpha0")]
    out.insert(0, ("alpha0 * std(input) ~ 1 is the rule behind the best alpha0", all_of(outcomes),
                   ", ".join(f"{m}: {o}" for m, o in zip(models, outcomes))))
    return out


SCALE_MAP_CLAIMS = ("C1: DyT (alpha0 0.5) matches LN", "C1: the best DyT alpha0 matches LN",
                    "C2: identity fails or loses to tanh", "C5: alpha0 0.5 and 1 match",
                    "C5: DyT (alpha0 0.5) as stable as LN")


def _stable_as(a: Cell, b: Cell, cmp: Compare) -> str:
    """C5's stability part in one cell, by the stability study's rule: does not hold when one side
    fails where the other trains, holds when both are in the same state; inconclusive otherwise or
    below 3 runs a side."""
    sa, sb = failure_state(a, cmp.metric), failure_state(b, cmp.metric)
    if min(a.n, b.n) < stats.MIN_N:
        return UNSURE
    return HOLDS if sa == sb else FAILS if {sa, sb} == {"fails", "trains"} else UNSURE


def scale_map(result, cmp: Compare = ACC) -> list[Verdict]:
    """The claims as a map over (model.depth, model.patch_size): in each cell, C1 (DyT at alpha0
    0.5 matches LN; the best DyT alpha0, picked on the selection metric, matches LN: inconclusive
    where that alpha0 is at the edge of the cell's grid), C2 (identity
    fails, or tanh at alpha0 0.5 beats it), C5 (alpha0 0.5 and 1 match; alpha0 0.5 fails in the same
    runs as LN). Per claim, a verdict line "in every cell" (holds when it holds in every cell run,
    does not hold when it does not hold in some cell, inconclusive otherwise) and a line naming the
    cells of each outcome, with the numbers behind each cell. A variant layernorm_long (LN run
    twice as long in one cell) gives the run-length context line."""
    cells = collect(result, keys=("variant", "model.depth", "model.patch_size"), metric=cmp.metric)
    grid: dict[tuple, dict[str, Cell]] = {}
    for (variant, depth, patch), c in cells.items():
        if c.n:
            grid.setdefault((depth, patch), {})[str(variant)] = c
    grid = {k: v for k, v in grid.items() if "layernorm" in v}
    if not grid:
        return [("C1/C2/C5 over depth x tokens", UNSURE, "no cell with layernorm runs")]
    found: dict[str, dict[tuple, tuple[str, str]]] = {c: {} for c in SCALE_MAP_CLAIMS}
    for key, at in sorted(grid.items()):
        ln = at["layernorm"]
        dyts = {float(v.split("_", 1)[1]): c for v, c in at.items() if v.startswith("dyt_")}
        tanh = dyts.get(0.5)
        if tanh is not None:
            o, d = cmp.matches(tanh, ln)
            flag = setup_failure("dyt_0.5", tanh, cmp, at.get("identity"), NO_SQUASH)
            found[SCALE_MAP_CLAIMS[0]][key] = (UNSURE if flag and o == HOLDS else o,
                                               cmp.show_diff("dyt_0.5 - LN", d) + (f"; {flag}" if flag else ""))
            found[SCALE_MAP_CLAIMS[4]][key] = (_stable_as(tanh, ln, cmp),
                                               f"failed runs: dyt_0.5 {collapsed(tanh, cmp.metric)}/{tanh.n}, "
                                               f"LN {collapsed(ln, cmp.metric)}/{ln.n}")
            if "identity" in at:
                ident = at["identity"]
                o, d = cmp.beats(tanh, ident)
                bad = collapsed(ident, cmp.metric)
                found[SCALE_MAP_CLAIMS[2]][key] = (HOLDS if bad == ident.n >= stats.MIN_N else o,
                                                   f"identity {bad}/{ident.n} failed; " + cmp.show_diff("tanh - identity", d))
            if 1.0 in dyts:
                o, d = cmp.matches(tanh, dyts[1.0])
                found[SCALE_MAP_CLAIMS[3]][key] = (o, cmp.show_diff("alpha0 0.5 - 1", d))
        if dyts:
            best, edge = pick_best(dyts, cmp)
            o, d = cmp.matches(dyts[best], ln)
            found[SCALE_MAP_CLAIMS[1]][key] = (UNSURE if edge else o,
                                               f"best alpha0 {best:g}: " + cmp.show_diff(f"dyt_{best:g} - LN", d)
                                               + (f"; {edge}" if edge else ""))
    name = lambda k: f"depth {k[0]} patch {k[1]}"  # noqa: E731
    out = []
    for key, at in sorted(grid.items()):  # the run-length check: LN twice as long in one cell
        if "layernorm_long" in at:
            gain, how = seed_matched_gain(at["layernorm"], at["layernorm_long"], cmp)
            out.append((f"run length, LN at {name(key)}", f"{gain:+.{cmp.decimals}f} {cmp.unit} from the map's "
                        f"length to twice it ({how})",
                        f"map length: {cmp.show(at['layernorm'])}; twice: {cmp.show(at['layernorm_long'])}"))
    for claim in SCALE_MAP_CLAIMS:
        per = found[claim]
        if not per:
            continue
        outcomes = [o for o, _ in per.values()]
        out.append((f"{claim} in every cell of the map", all_of(outcomes), f"{len(per)} cells"))
        where = "; ".join(f"{o}: " + ", ".join(name(k) for k, (ok, _) in sorted(per.items()) if ok == o)
                          for o in (HOLDS, FAILS, UNSURE) if o in outcomes)
        out.append((f"{claim}, cell by cell", where, " | ".join(f"{name(k)}: {why}" for k, (_, why) in sorted(per.items()))))
    return out
