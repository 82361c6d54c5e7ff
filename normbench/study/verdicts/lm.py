"""Verdict rules of the language-model studies: validation bits per byte, lower is better, a
tie within the seed spread or 0.01 bits per byte (compare.BPB)."""

from __future__ import annotations

from normbench.report.tables import Cell
from normbench.study.verdicts.compare import BPB, FAILS, HOLDS, UNSURE, at_length, collect, length_check, main_length

METRIC = "val/bpb"


def llm_norms(result) -> list[tuple[str, str, str]]:
    """C1 (LLM): DyT (with the sqrt(d) embedding scalar) matches RMSNorm when its validation bits
    per byte is not worse by more than the seed spread; it does not hold when RMSNorm is better.
    C6 (embedding scalar): holds when DyT without the scalar is worse than with it by more than
    the spread (or diverges); it does not hold when it is not worse."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=METRIC)
    c = at_length(cells, main_length(cells))
    need = ("rmsnorm", "dyt", "dyt_noscale")
    if any(v not in c for v in need):
        return [("C1 (LLM)", UNSURE, f"missing variants: {[v for v in need if v not in c]}")]
    rms, dyt, noscale = (c[v] for v in need)
    out = [("C1 (LLM): DyT matches RMSNorm", HOLDS if BPB.not_worse(dyt, rms) else FAILS,
            f"val bits per byte: RMSNorm {BPB.show(rms)}, DyT {BPB.show(dyt)}")]
    struggles = noscale.n_diverged > 0 or BPB.better(dyt, noscale)
    out.append(("C6: DyT without the sqrt(d) embedding scalar struggles", HOLDS if struggles else FAILS,
                f"DyT {BPB.show(dyt)}, without the scalar {BPB.show(noscale)}"))
    return out + length_check(cells, "rmsnorm", BPB, "bits per byte")


def _order(pre: Cell, post: Cell) -> str:
    if BPB.better(pre, post) or (post.n_diverged and not pre.n_diverged):
        return "pre"
    if BPB.better(post, pre) or (pre.n_diverged and not post.n_diverged):
        return "post"
    return "tie"


def pre_post(result) -> list[tuple[str, str, str]]:
    """No paper claim. Per norm, which position is better (pre: norm before each branch; post:
    norm(x + f(x))), by more than the seed spread, or a tie. DyT responds to the position as the
    norms do when its order equals RMSNorm's; it does not when the two are opposite (one prefers
    pre, the other post); inconclusive when one of them is a tie and the other is not."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=METRIC)
    c = at_length(cells, main_length(cells))
    norms = [n for n in ("rmsnorm", "layernorm", "dyt") if f"pre_{n}" in c and f"post_{n}" in c]
    if "rmsnorm" not in norms or "dyt" not in norms:
        return [("pre vs post", UNSURE, "missing pre_/post_ runs of rmsnorm or dyt")]
    order = {n: _order(c[f"pre_{n}"], c[f"post_{n}"]) for n in norms}
    out = [(f"{n}: pre vs post", f"{order[n]} better" if order[n] != "tie" else "tie",
            f"pre {BPB.show(c[f'pre_{n}'])}, post {BPB.show(c[f'post_{n}'])}") for n in norms]
    same = order["dyt"] == order["rmsnorm"]
    opposite = {order["dyt"], order["rmsnorm"]} == {"pre", "post"}
    out.append(("DyT responds to the norm position as RMSNorm does", HOLDS if same else FAILS if opposite else UNSURE,
                f"RMSNorm: {order['rmsnorm']}, DyT: {order['dyt']}"))
    return out


def _model(variant: str) -> tuple[int, int] | None:
    """"w64_d4" -> (64, 4); None for another name."""
    parts = variant.split("_")
    if len(parts) == 2 and parts[0][:1] == "w" and parts[1][:1] == "d" and parts[0][1:].isdigit() \
            and parts[1][1:].isdigit():
        return int(parts[0][1:]), int(parts[1][1:])
    return None


def llm_alpha0(result) -> list[tuple[str, str, str]]:
    """C6 on the (alpha0_attn, alpha0 other) grid of each model w<width>_d<depth>; a model's best
    cell is the lowest mean val bits per byte.
    - Depth does not set alpha0: holds when, at every width, each depth's best cell is not worse
      than the best by more than the seed spread at the other depth's best setting (the two
      depths share a good setting); does not hold when at some width neither setting carries over.
    - Wider wants smaller: holds when the best attn x other product falls from the narrowest
      width to the widest at every depth and never rises between neighbours; does not hold when it
      rises from the narrowest to the widest at some depth; inconclusive otherwise.
    - Attention wants larger: holds when the best alpha0_attn is >= the best other alpha0 in every
      model and > in at least one; does not hold when it is smaller in at least half the models."""
    cells = collect(result, keys=("variant", "norm.alpha0_attn", "norm.alpha0"), metric=METRIC)
    grids: dict[tuple[int, int], dict[tuple[float, float], Cell]] = {}
    for (v, attn, other), c in cells.items():
        m = _model(str(v))
        if m is not None and c.n and attn is not None:
            grids.setdefault(m, {})[(float(attn), float(other))] = c
    if not grids:
        return [("C6", UNSURE, "no runs of w<width>_d<depth> variants with norm.alpha0_attn")]
    best = {m: max(g, key=lambda k: BPB.score(g[k])) for m, g in grids.items()}
    name = lambda m: f"w{m[0]}_d{m[1]}"  # noqa: E731
    where = "; ".join(f"{name(m)}: attn {best[m][0]:g} / other {best[m][1]:g} ({BPB.show(grids[m][best[m]])})"
                      for m in sorted(grids))
    out = []
    widths = sorted({w for w, _ in grids})
    depths = sorted({d for _, d in grids})
    carried, broken = [], []
    for w in widths:
        ds = [d for d in depths if (w, d) in grids]
        for a, b in zip(ds, ds[1:]):
            ga, gb = grids[(w, a)], grids[(w, b)]
            ok_ab = best[(w, a)] in gb and BPB.not_worse(gb[best[(w, a)]], gb[best[(w, b)]])
            ok_ba = best[(w, b)] in ga and BPB.not_worse(ga[best[(w, b)]], ga[best[(w, a)]])
            (carried if ok_ab or ok_ba else broken).append(f"w{w}: d{a} vs d{b}")
    if carried or broken:
        out.append(("C6: depth does not set the best alpha0", FAILS if broken else HOLDS,
                    (f"a shared good setting at {', '.join(carried)}" if carried else "")
                    + ("; " if carried and broken else "") + (f"none at {', '.join(broken)}" if broken else "")))
    trends = []
    for d in depths:
        prods = [best[(w, d)][0] * best[(w, d)][1] for w in widths if (w, d) in grids]
        if len(prods) > 1:
            trends.append(("falls" if prods[-1] < prods[0] and all(b <= a for a, b in zip(prods, prods[1:]))
                           else "rises" if prods[-1] > prods[0] else "mixed", d, prods))
    if trends:
        kinds = {t[0] for t in trends}
        out.append(("C6: wider models want a smaller alpha0", HOLDS if kinds == {"falls"} else
                    FAILS if "rises" in kinds else UNSURE,
                    "; ".join(f"d{d}: best attn x other by width {', '.join(f'{p:g}' for p in prods)} ({k})"
                              for k, d, prods in trends)))
    larger = sum(best[m][0] > best[m][1] for m in grids)
    smaller = sum(best[m][0] < best[m][1] for m in grids)
    out.append(("C6: attention wants a larger alpha0", HOLDS if smaller == 0 and larger else
                FAILS if 2 * smaller >= len(grids) else UNSURE,
                f"attn > other in {larger}, < in {smaller} of {len(grids)} models; best: {where}"))
    return out


def data_regime(result) -> list[tuple[str, str, str]]:
    """arXiv 2604.23434, for DyT and for hardtanh against RMSNorm across data.train_bytes budgets
    (null: the whole training split, the largest): holds when the squash is better than RMSNorm
    by more than the seed spread at the smallest budget and worse by more than it at the largest;
    does not hold when its advantage (RMSNorm's bpb minus its own) does not shrink from the
    smallest budget to the largest by more than the spread; inconclusive otherwise (the trend is
    there, the sign does not flip)."""
    cells = collect(result, keys=("variant", "data.train_bytes"), metric=METRIC)
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
        adv = {b: rms[b].mean - sq[b].mean for b in budgets}
        spread = max(BPB.margin(rms[lo], sq[lo]), BPB.margin(rms[hi], sq[hi]))
        label = lambda b: "all" if b == float("inf") else f"{int(b) // 1024} KiB"  # noqa: E731
        why = "; ".join(f"{label(b)}: RMSNorm {BPB.show(rms[b])}, {squash} {BPB.show(sq[b])} "
                        f"(advantage {adv[b]:+.3f})" for b in budgets)
        if BPB.better(sq[lo], rms[lo]) and BPB.better(rms[hi], sq[hi]):
            verdict = HOLDS
        elif adv[lo] - adv[hi] <= spread:
            verdict = FAILS
        else:
            verdict = UNSURE
        out.append((claim, verdict, why))
    return out
