"""Verdict rules of the vision studies (squash, alpha_std, ln_curve, stability, alpha0,
baselines, vision_norms, bn_replace): accuracy, higher is better, a tie within the seed
spread or 0.3 points (compare.ACC)."""

from __future__ import annotations

from normbench.report.tables import Cell
from normbench.study.verdicts.compare import (ACC, FAILS, HOLDS, UNSURE, at_length, better, collect, length_check,
                                              main_length, not_worse, score, show)


def _at(cells: dict[tuple, Cell], lr: float, steps: int) -> dict[str, Cell]:
    return {k[0]: v for k, v in cells.items() if k[1:] == (lr, steps)}


def recipe_checks(cells: dict[tuple, Cell], main: tuple, searched: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """What the lr search chose for the baselines, and how far the baseline is from a run twice
    as long (at whichever lr that run was made). main = (the study's lr, its length); lr None
    when every variant has its own search, so there is no shared lr to compare with."""
    out = []
    for v in searched:
        by_lr = {k[1]: c for k, c in cells.items() if k[0] == v and k[2] == main[1] and c.n}
        if len(by_lr) > 1:
            best = max(by_lr, key=lambda lr: score(by_lr[lr]))
            note = "" if main[0] is None else " (the study's lr)" if best == main[0] else \
                " (not the study's lr: the other variants may be under-tuned)"
            out.append((f"lr search, {v}", f"best lr {best:g}{note}",
                        ", ".join(f"{lr:g}: {show(c)}" for lr, c in sorted(by_lr.items()))))
    lengths: dict[float, list[tuple[int, Cell]]] = {}
    for k, c in cells.items():
        if k[0] == searched[0] and c.n:
            lengths.setdefault(k[1], []).append((k[2], c))
    for lr, ln in sorted(lengths.items()):
        if len(ln) > 1:
            (s1, c1), (s2, c2) = sorted(ln, key=lambda t: t[0])[:2]
            out.append((f"run length, {searched[0]}", f"{c2.mean - c1.mean:+.2f} points from {s1} to {s2} steps",
                        f"at lr {lr:g}: {s1} steps: {show(c1)}; {s2} steps: {show(c2)}"))
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


def _largest_good(group: dict[float, Cell]) -> float:
    """The largest alpha0 whose runs did not diverge and are within the margin of the group's best."""
    best = max(group.values(), key=score)
    return max((a for a, c in group.items() if not c.n_diverged and not better(best, c)), default=min(group))


def alpha0(result) -> list[tuple[str, str, str]]:
    """C5a holds when, for every (model size, lr), accuracy over alpha0 0.5-1.2 spreads less than
    twice the largest seed std (at least 1 point); it fails when some spread is larger.
    C5b holds when the largest good alpha0 (not diverged, within the margin of the best) is no
    larger for the large model than the small one, nor at the higher lr than the lower, and
    smaller somewhere; it fails when it is larger somewhere and smaller nowhere."""
    cells = collect(result, keys=("variant", "optim.lr", "norm.alpha0"))
    groups: dict[tuple, dict[float, Cell]] = {}
    for (variant, lr, a0), c in cells.items():
        if c.n:
            groups.setdefault((variant, lr), {})[a0] = c
    if not groups:
        return [("C5", UNSURE, "no runs yet")]
    flat, why = True, []
    for (variant, lr), group in sorted(groups.items()):
        band = [c for a, c in group.items() if 0.5 <= a <= 1.2 and c.mean is not None]
        if len(band) < 2:
            continue
        spread = max(c.mean for c in band) - min(c.mean for c in band)
        tol = max(2 * max(c.std or 0.0 for c in band), 1.0)
        flat &= spread <= tol
        why.append(f"{variant} lr {lr:g}: spread {spread:.1f} (tolerance {tol:.1f})")
    out = [("C5a (insensitive to alpha0 in 0.5-1.2)", HOLDS if flat else FAILS, "; ".join(why))]
    good = {k: _largest_good(g) for k, g in groups.items()}
    variants, lrs = sorted({k[0] for k in good}), sorted({k[1] for k in good})
    pairs = [((v, lrs[i]), (v, lrs[i + 1])) for v in variants for i in range(len(lrs) - 1)]
    if {"small", "large"} <= set(variants):
        pairs += [(("small", lr), ("large", lr)) for lr in lrs]
    pairs = [(a, b) for a, b in pairs if a in good and b in good]
    smaller = sum(good[b] < good[a] for a, b in pairs)
    larger = sum(good[b] > good[a] for a, b in pairs)
    why = ", ".join(f"{v} lr {lr:g}: {good[(v, lr)]:g}" for v, lr in sorted(good))
    verdict = HOLDS if smaller and not larger else FAILS if larger and not smaller else UNSURE
    out.append(("C5b (a larger model or lr needs a smaller alpha0)", verdict, "largest good alpha0: " + why))
    return out


def baselines(result) -> list[tuple[str, str, str]]:
    """C7, each method at its best lr (by mean over seeds): Fixup and SkipInit lose to both LN
    and DyT; sigmaReparam is not worse than LN; DyT is not worse than LN; Fixup and SkipInit
    prefer a lower lr than LN or diverge where LN does not."""
    cells = collect(result, keys=("variant", "optim.lr", "trainer.max_steps"))
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
    best = {v: max(g.items(), key=lambda t: score(t[1])) for v, g in by_lr.items()}
    b = {v: c for v, (_, c) in best.items()}
    at = ", ".join(f"{v} {show(best[v][1])} at lr {best[v][0]:g}" for v in need)
    diverged = {v: [lr for lr, c in sorted(g.items()) if c.n_diverged] for v, g in by_lr.items()}
    div = "; diverged at lr: " + ", ".join(f"{v} {diverged[v] or 'none'}" for v in need)
    lose = [better(b[s], b[f]) for f in ("fixup", "skipinit") for s in ("layernorm", "dyt")]
    match = [not_worse(b[f], b["layernorm"]) for f in ("fixup", "skipinit")]
    out = [("C7: Fixup and SkipInit lose to LN and DyT", HOLDS if all(lose) else FAILS if all(match) else UNSURE, at)]
    out.append(("C7: sigmaReparam close to LN", FAILS if better(b["layernorm"], b["sigma_reparam"]) else HOLDS,
                f"sigmaReparam {show(b['sigma_reparam'])}, LN {show(b['layernorm'])}"))
    out.append(("C1/C7: DyT matches or beats LN", FAILS if better(b["layernorm"], b["dyt"]) else HOLDS,
                f"DyT {show(b['dyt'])}, LN {show(b['layernorm'])}"))
    ln_lr, ln_div = best["layernorm"][0], set(diverged["layernorm"])
    lower = [best[f][0] < ln_lr or bool(set(diverged[f]) - ln_div) for f in ("fixup", "skipinit")]
    out.append(("C7: Fixup and SkipInit need lower learning rates", HOLDS if all(lower) else FAILS if not any(lower)
                else UNSURE, "best lr: " + ", ".join(f"{v} {best[v][0]:g}" for v in need) + div))
    return out + recipe_checks(cells, (None, steps), ("layernorm",))


def _by_variant_at_length(result) -> tuple[dict[str, Cell], list[tuple[str, str, str]]]:
    """{variant: cell} at the study's run length, and the run-length check of each variant that
    also has a longer run."""
    cells = collect(result, keys=("variant", "trainer.max_steps"))
    steps = main_length(cells)
    c = {v: cell for v, cell in at_length(cells, steps).items() if cell.mean is not None}
    longer = sorted({k[0] for k, cell in cells.items() if cell.n and k[-1] != steps})
    return c, [row for v in longer for row in length_check(cells, v, ACC, "points")]


def _gap(r: dict) -> str:
    return (f"{r['label']} vs {r['reference']}: mean |gap| {r['mean_abs_gap']:.4f} "
            f"({100 * r['relative_gap']:.1f} % of the reference's loss), final {r['final_gap']:+.4f}")


def vision_norms(result) -> list[tuple[str, str, str]]:
    """C1 per model (ViT, ConvNeXt): DyT (alpha0 0.5) matches LN when it is not worse than LN
    by more than the seed spread; it does not hold when LN is better. The curves are aligned
    when, for DyT vs LN on ViT and on ConvNeXt, the mean |gap| of smoothed train loss (the
    curve_gap table) is below 5 % of LN's mean smoothed loss; not aligned when one is above
    15 %; inconclusive between."""
    c, length = _by_variant_at_length(result)
    out = []
    for model, name, others in (("vit", "ViT", ("vit_rmsnorm", "vit_dyt_best")), ("convnext", "ConvNeXt", ())):
        dyt, ln = c.get(f"{model}_dyt"), c.get(f"{model}_layernorm")
        claim = f"C1: DyT matches LN on {name}"
        if dyt is None or ln is None:
            out.append((claim, UNSURE, f"no finished runs of {model}_dyt or {model}_layernorm"))
            continue
        why = ", ".join(f"{v} {show(c[v])}" for v in (f"{model}_layernorm", f"{model}_dyt", *others) if v in c)
        out.append((claim, HOLDS if not_worse(dyt, ln) else FAILS, why))
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


def bn_replace(result) -> list[tuple[str, str, str]]:
    """C8 per model (ResNet, VGG), DyT with BatchNorm's hyperparameters: it holds when BN beats
    DyT by more than the seed spread; it does not hold when DyT is not worse than BN. GroupNorm
    and no norm are context, not part of the verdict: their numbers and divergences."""
    c, length = _by_variant_at_length(result)
    out = []
    for model, name in (("resnet", "ResNet"), ("vgg", "VGG")):
        bn, dyt = c.get(f"{model}_batchnorm"), c.get(f"{model}_dyt")
        if bn is None or dyt is None:
            out.append((f"C8: DyT cannot replace BatchNorm in {name}", UNSURE,
                        f"no finished runs of {model}_batchnorm or {model}_dyt"))
            continue
        out.append((f"C8: DyT cannot replace BatchNorm in {name}", HOLDS if better(bn, dyt) else FAILS,
                    f"BN {show(bn)}, DyT {show(dyt)}" + (f" ({bn.mean - dyt.mean:+.2f} points for BN)"
                                                   if None not in (bn.mean, dyt.mean) else "")))
        rest = [(label, c[f"{model}_{v}"]) for v, label in (("groupnorm", "GroupNorm"), ("identity", "no norm"))
                if f"{model}_{v}" in c]
        if rest:
            steps = lambda cell: ", ".join(str(r.diverged_step) for r in cell.runs if r.status == "diverged")  # noqa: E731
            out.append((f"{name}: GroupNorm and no norm", ", ".join(_context(*t) for t in rest),
                        "; ".join(f"{label} {show(cell)}" + (f", diverged at steps {steps(cell)}" if steps(cell) else "")
                                  for label, cell in rest)))
    return out + length
