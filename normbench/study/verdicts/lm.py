"""Verdict rules of the language-model studies: validation bits per byte, lower is better,
judged by the interval of the paired difference against the study's equivalence margin
(compare.BPB: 0.02 bits per byte by default).

Sanity flag: a variant at the unigram plateau (within PLATEAU_BAND of the bits per byte a model
that ignores the context reaches: the cross-entropy of the validation bytes under the training
bytes' frequencies) has not trained; it cannot make a claim hold.
"""

from __future__ import annotations

import functools

import numpy as np

from normbench.report.tables import Cell
from normbench.study.verdicts.compare import (BPB, FAILS, HOLDS, UNSURE, Compare, Verdict, at_length, collect,
                                              length_check, main_length, not_bracketed)

METRIC = "val/bpb"
PLATEAU_BAND = 0.05


@functools.lru_cache(maxsize=None)
def unigram_plateau(val_fraction: float = 0.1, test_fraction: float = 0.0, split: str = "val") -> float:
    """Bits per byte of the shipped corpus's `split` (val or test) under its training split's byte
    frequencies (add-one smoothed): where a model that learned no context stops."""
    from normbench.data.text import load_text_data

    data = load_text_data("shakespeare", val_fraction=val_fraction, test_fraction=test_fraction)  # the runs' split
    p = (np.bincount(data.train, minlength=256) + 1.0) / (len(data.train) + 256)
    held = data.test if split == "test" and data.test is not None else data.val
    return float(-np.log2(p[held]).mean())


def plateau_flag(name: str, c: Cell, cmp: Compare) -> str | None:
    """A setup-failure note when the cell's runs are on the shipped corpus and at its plateau
    (of the split the metric is on)."""
    data = {r.key("data.name") for r in c.runs}
    if c.mean is None or data != {"shakespeare"}:
        return None
    splits = {(r.key("data.val_fraction"), r.text_test_fraction or 0.0) for r in c.runs}
    only = next(iter(splits)) if len(splits) == 1 else None
    val_fraction, test_fraction = only if only is not None and only[0] is not None else (0.1, 0.0)
    plateau = unigram_plateau(float(val_fraction), test_fraction, cmp.metric.split("/", 1)[0])
    if c.mean >= plateau - PLATEAU_BAND:
        return f"setup failure: {name} is at the unigram plateau ({cmp.show(c)}; plateau {plateau:.3f})"
    return None


def llm_norms(result, cmp: Compare = BPB) -> list[Verdict]:
    """C1 (LLM): DyT (with the sqrt(d) embedding scalar) matches RMSNorm when the interval of the
    difference lies inside the margin; does not hold when it lies wholly outside.
    C6 (embedding scalar): holds when DyT without the scalar diverges or DyT with it beats it;
    does not hold when DyT with the scalar does not beat it (equivalent or worse)."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=cmp.metric)
    c = at_length(cells, main_length(cells))
    need = ("rmsnorm", "dyt", "dyt_noscale")
    if any(v not in c for v in need):
        return [("C1 (LLM)", UNSURE, f"missing variants: {[v for v in need if v not in c]}")]
    rms, dyt, noscale = (c[v] for v in need)
    o, d = cmp.matches(dyt, rms)
    flag = plateau_flag("dyt", dyt, cmp)
    out = [("C1 (LLM): DyT matches RMSNorm", UNSURE if flag and o == HOLDS else o,
            f"val bits per byte: RMSNorm {cmp.show(rms)}, DyT {cmp.show(dyt)}; " + cmp.show_diff("DyT - RMSNorm", d)
            + (f"; {flag}" if flag else ""))]
    o, d = cmp.beats(dyt, noscale)
    o = HOLDS if noscale.n_diverged > 0 else o
    out.append(("C6: DyT without the sqrt(d) embedding scalar struggles", UNSURE if flag and o == HOLDS else o,
                f"DyT {cmp.show(dyt)}, without the scalar {cmp.show(noscale)}; " + cmp.show_diff("DyT - without", d)
                + (f"; {flag}" if flag else "")))
    return out + length_check(cells, "rmsnorm", cmp)


def _order(pre: Cell, post: Cell, cmp: Compare) -> tuple[str, str]:
    """Which position is better ("pre", "post", "tie": equivalent within the margin, "unclear"),
    and the interval behind it."""
    if post.n_diverged and not pre.n_diverged:
        return "pre", "post diverged"
    if pre.n_diverged and not post.n_diverged:
        return "post", "pre diverged"
    o, d = cmp.beats(pre, post)
    text = cmp.show_diff("pre - post", d)
    if o == HOLDS:
        return "pre", text
    if d is not None and cmp.beats(post, pre)[0] == HOLDS:
        return "post", text
    return ("tie" if cmp.matches(pre, post)[0] == HOLDS else "unclear"), text


# pre_post's DyT pairs: the study's (alpha0 1.0) and llm_alpha0's best cell for its model (attention 2 / other 8)
PRE_POST_DYTS = {"dyt": "DyT", "dyt_a8": "DyT at alpha0 2 / 8 (attention / other)"}


def pre_post(result, cmp: Compare = BPB) -> list[Verdict]:
    """No paper claim. Per norm, which position is better (pre: norm before each branch; post:
    norm(x + f(x))): the interval of pre - post excludes 0 one way, or lies inside the margin (a
    tie), or neither (unclear). DyT responds to the position as RMSNorm does when the two orders
    are the same and decided; it does not when they are opposite; inconclusive otherwise, and when
    a DyT variant never left the unigram plateau (a setup failure: it did not train). The same
    verdict for each DyT pair that ran (PRE_POST_DYTS: pre_<name> and post_<name>), each on its own."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=cmp.metric)
    c = at_length(cells, main_length(cells))
    norms = [n for n in ("rmsnorm", "layernorm", *PRE_POST_DYTS) if f"pre_{n}" in c and f"post_{n}" in c]
    if "rmsnorm" not in norms or "dyt" not in norms:
        return [("pre vs post", UNSURE, "missing pre_/post_ runs of rmsnorm or dyt")]
    order = {n: _order(c[f"pre_{n}"], c[f"post_{n}"], cmp) for n in norms}
    out = [(f"{n}: pre vs post", f"{order[n][0]} better" if order[n][0] in ("pre", "post") else order[n][0],
            f"pre {cmp.show(c[f'pre_{n}'])}, post {cmp.show(c[f'post_{n}'])}; {order[n][1]}") for n in norms]
    b = order["rmsnorm"][0]
    decided = {"pre", "post", "tie"}
    for dyt, label in PRE_POST_DYTS.items():
        if dyt not in norms:
            continue
        flags = [f for v in (f"pre_{dyt}", f"post_{dyt}") if (f := plateau_flag(v, c[v], cmp))]
        a = order[dyt][0]
        verdict = FAILS if {a, b} == {"pre", "post"} else HOLDS if a == b and a in decided else UNSURE
        if flags and verdict == HOLDS:
            verdict = UNSURE
        out.append((f"{label} responds to the norm position as RMSNorm does", verdict,
                    f"RMSNorm: {b}, {label}: {a}" + "".join(f"; {f}" for f in flags)))
    return out


def _model(variant: str) -> tuple[int, int] | None:
    """"w64_d4" -> (64, 4); None for another name."""
    parts = variant.split("_")
    if len(parts) == 2 and parts[0][:1] == "w" and parts[1][:1] == "d" and parts[0][1:].isdigit() \
            and parts[1][1:].isdigit():
        return int(parts[0][1:]), int(parts[1][1:])
    return None


def llm_alpha0(result, cmp: Compare = BPB) -> list[Verdict]:
    """C6 on the (alpha0_attn, alpha0 other) grid of each model w<width>_d<depth>; a model's best
    cell is the lowest mean val bits per byte. Each claim rests on the best cells: where a model's
    best sits at the edge of its grid in either alpha0 (not bracketed), the claim is inconclusive,
    whatever the trend, and says where. A model at the unigram plateau everywhere has no optimum
    and is left out (named).
    - Depth does not set alpha0: holds when, at every width, one depth's best setting is not
      worse (within the margin) than the other depth's best at that depth; does not hold when at
      some width neither setting carries over (both comparisons do not hold); inconclusive
      otherwise (at some width an interval across the margin, or neither best cell run at the
      other depth), and said so.
    - Wider wants smaller: holds when the best attn x other product falls from the narrowest
      width to the widest at every depth and never rises between neighbours; does not hold when it
      rises from the narrowest to the widest at some depth; inconclusive otherwise.
    - Attention wants larger: holds when the best alpha0_attn is >= the best other alpha0 in every
      model and > in at least one; does not hold when it is smaller in at least half the models."""
    cells = collect(result, keys=("variant", "norm.alpha0_attn", "norm.alpha0"), metric=cmp.metric)
    grids: dict[tuple[int, int], dict[tuple[float, float], Cell]] = {}
    for (v, attn, other), c in cells.items():
        m = _model(str(v))
        if m is not None and c.n and attn is not None:
            grids.setdefault(m, {})[(float(attn), float(other))] = c
    if not grids:
        return [("C6", UNSURE, "no runs of w<width>_d<depth> variants with norm.alpha0_attn")]
    name = lambda m: f"w{m[0]}_d{m[1]}"  # noqa: E731
    best = {m: max(g, key=lambda k: cmp.score(g[k])) for m, g in grids.items()}
    untrained = sorted(m for m in grids if plateau_flag(name(m), grids[m][best[m]], cmp))
    for m in untrained:
        del grids[m], best[m]
    skipped = f"; left out, at the unigram plateau in every cell: {', '.join(map(name, untrained))}" if untrained else ""
    if not grids:
        return [("C6", UNSURE, "every model is at the unigram plateau" + skipped)]
    edges = []
    for m, g in sorted(grids.items()):
        for i, axis in enumerate(("attn", "other")):
            note = not_bracketed(f"{name(m)} {axis}", {k[i] for k in g}, best[m][i])
            if note:
                edges.append(note.removeprefix("not bracketed: "))
    edge_note = ("; not bracketed: " + "; ".join(edges)) if edges else ""
    where = "; ".join(f"{name(m)}: attn {best[m][0]:g} / other {best[m][1]:g} ({cmp.show(grids[m][best[m]])})"
                      for m in sorted(grids))

    def judged(claim: str, outcome: str, why: str) -> Verdict:
        return (claim, UNSURE if edges else outcome, why + edge_note + skipped)

    out = []
    widths = sorted({w for w, _ in grids})
    depths = sorted({d for _, d in grids})
    carried, broken, open_ = [], [], []
    for w in widths:
        ds = [d for d in depths if (w, d) in grids]
        for a, b in zip(ds, ds[1:]):
            ga, gb = grids[(w, a)], grids[(w, b)]
            # a depth's best cell carried to the other depth: not worse there than that depth's best
            # (None: that cell was not run at the other depth)
            ok_ab = cmp.not_worse(gb[best[(w, a)]], gb[best[(w, b)]])[0] if best[(w, a)] in gb else None
            ok_ba = cmp.not_worse(ga[best[(w, b)]], ga[best[(w, a)]])[0] if best[(w, b)] in ga else None
            pair = f"w{w}: d{a} vs d{b}"
            if HOLDS in (ok_ab, ok_ba):
                carried.append(pair)
            elif ok_ab == FAILS and ok_ba == FAILS:
                broken.append(pair)
            else:  # an interval across the margin, or a best cell not run at the other depth
                missing = [f"d{x}'s best not run at d{y}" for x, y, ok in ((a, b, ok_ab), (b, a, ok_ba)) if ok is None]
                open_.append(pair + (f" ({', '.join(missing)})" if missing else ""))
    if carried or broken or open_:  # holds at every width, fails at one, else inconclusive
        parts = [f"a shared good setting at {', '.join(carried)}" if carried else "",
                 f"none at {', '.join(broken)}" if broken else "",
                 f"undecided at {', '.join(open_)}" if open_ else ""]
        out.append(judged("C6: depth does not set the best alpha0",
                          FAILS if broken else UNSURE if open_ else HOLDS, "; ".join(p for p in parts if p)))
    trends = []
    for d in depths:
        prods = [best[(w, d)][0] * best[(w, d)][1] for w in widths if (w, d) in grids]
        if len(prods) > 1:
            trends.append(("falls" if prods[-1] < prods[0] and all(b <= a for a, b in zip(prods, prods[1:]))
                           else "rises" if prods[-1] > prods[0] else "mixed", d, prods))
    if trends:
        kinds = {t[0] for t in trends}
        out.append(judged("C6: wider models want a smaller alpha0", HOLDS if kinds == {"falls"} else
                          FAILS if "rises" in kinds else UNSURE,
                          "; ".join(f"d{d}: best attn x other by width {', '.join(f'{p:g}' for p in prods)} ({k})"
                                    for k, d, prods in trends)))
    larger = sum(best[m][0] > best[m][1] for m in grids)
    smaller = sum(best[m][0] < best[m][1] for m in grids)
    out.append(judged("C6: attention wants a larger alpha0", HOLDS if smaller == 0 and larger else
                      FAILS if 2 * smaller >= len(grids) else UNSURE,
                      f"attn > other in {larger}, < in {smaller} of {len(grids)} models; best: {where}"))
    return out


def data_regime(result, cmp: Compare = BPB) -> list[Verdict]:
    """arXiv 2604.23434, for DyT and for hardtanh against RMSNorm across data.train_bytes budgets
    (null: the whole training split, the largest): holds when the squash beats RMSNorm at the
    smallest budget and RMSNorm beats it at the largest (each interval excludes 0); does not hold
    when either part does not hold (the squash not ahead when data is scarce, or not behind when
    plentiful); inconclusive otherwise."""
    cells = collect(result, keys=("variant", "data.train_bytes"), metric=cmp.metric)
    size = lambda b: float("inf") if b is None else float(b)  # noqa: E731
    by: dict[str, dict[float, Cell]] = {}
    for (v, b), c in cells.items():
        if c.n and c.mean is not None:
            by.setdefault(str(v), {})[size(b)] = c
    out = []
    for squash in ("dyt", "hardtanh"):
        claim = f"{'DyT' if squash == 'dyt' else 'hardtanh'} ahead of RMSNorm when data is scarce, behind when plentiful"
        budgets = sorted(set(by.get("rmsnorm", {})) & set(by.get(squash, {})))
        if len(budgets) < 2:
            out.append((claim, UNSURE, f"fewer than two budgets with both rmsnorm and {squash} runs"))
            continue
        rms, sq = by["rmsnorm"], by[squash]
        lo, hi = budgets[0], budgets[-1]
        label = lambda b: "all" if b == float("inf") else f"{int(b) // 1024} KiB"  # noqa: E731
        ahead, d_lo = cmp.beats(sq[lo], rms[lo])
        behind, d_hi = cmp.beats(rms[hi], sq[hi])
        why = "; ".join(f"{label(b)}: RMSNorm {cmp.show(rms[b])}, {squash} {cmp.show(sq[b])}" for b in budgets)
        why += f"; {label(lo)}: " + cmp.show_diff(f"{squash} - RMSNorm", d_lo)
        why += f"; {label(hi)}: " + cmp.show_diff(f"RMSNorm - {squash}", d_hi)
        verdict = HOLDS if ahead == behind == HOLDS else FAILS if FAILS in (ahead, behind) else UNSURE
        out.append((claim, verdict, why))
    return out
