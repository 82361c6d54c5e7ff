"""Verdict rule of the conditional-generation study (dit_adaln): does DyT in a DiT need adaLN's
zero-init removed, as the DyT paper reports?

The measure is task=generate's validation loss (flow matching's velocity MSE with fixed noise
and times, so it compares across runs), lower is better, judged by the interval of the paired
difference against the study's equivalence margin (GEN: 0.005 by default). Each variant is taken
at its best lr (the lowest mean over seeds, at the study's run length), since the paper searches
the lr per variant; a best lr at the edge of its grid is not bracketed and makes every verdict
that rests on it inconclusive. The FID and the judge's accuracy at that lr are shown beside the
loss, not used by the rule.
"""

from __future__ import annotations

import dataclasses

from normbench.report.tables import Cell
from normbench.study.verdicts.compare import HOLDS, UNSURE, Compare, Verdict, collect, main_length, not_bracketed

METRIC = "val/loss"
GEN = Compare(metric=METRIC, higher=False, margin=0.005, decimals=4, unit="(loss)")  # a verdict names the split
# variant names of configs/study/dit_adaln.yaml: the core (ln | dyt) x adaLN-Zero's zero-init (zero | nozero)
VARIANTS = ("ln_zero", "ln_nozero", "dyt_zero", "dyt_nozero")


def _best_lr(result, steps: int, metric: str) -> dict[str, dict[float, Cell]]:
    """{variant: {lr: cell}} at run length `steps` for `metric`."""
    by: dict[str, dict[float, Cell]] = {}
    for (v, lr, s), c in collect(result, keys=("variant", "optim.lr", "trainer.max_steps"), metric=metric).items():
        if s == steps and c.n:
            by.setdefault(str(v), {})[lr] = c
    return by


def dit_adaln(result, cmp: Compare = GEN) -> list[Verdict]:
    """Each variant at its best lr by mean val loss (picked on val/loss and judged on test/loss
    where the study reports test/loss).
    - DyT needs the zero-init removed: holds when DyT without adaLN-Zero's zero-init beats DyT
      with it (or DyT with it diverges where DyT without does not); does not hold when it does
      not beat it (equivalent within the margin, or worse).
    - LN trains fine with the zero-init (the control, DiT's default): holds when LN with it is not
      worse than LN without (within the margin); does not hold when it is worse.
    - DyT without the zero-init matches LN with it (adaLN-Zero): holds when the interval lies
      inside the margin; does not hold when it lies wholly outside."""
    cmp = dataclasses.replace(cmp, unit=f"({cmp.metric.split('/')[0]} loss)")  # test loss where it reports test
    cells = collect(result, keys=("variant", "optim.lr", "trainer.max_steps"), metric=cmp.metric)
    steps = main_length(cells)
    if steps is None:
        return [("zero-init", UNSURE, "no runs yet")]
    by_lr = _best_lr(result, steps, cmp.metric)
    missing = [v for v in VARIANTS if v not in by_lr]
    if missing:
        return [("zero-init", UNSURE, f"missing variants: {missing}")]
    # the best lr is picked on the selection metric (val/loss where the study reports test/loss)
    pick = _best_lr(result, steps, cmp.select) if cmp.select else by_lr
    pick = {v: {lr: c for lr, c in pick.get(v, {}).items() if lr in by_lr[v]} or by_lr[v] for v in by_lr}
    best = {v: max(g, key=lambda lr: cmp.score(g[lr])) for v, g in pick.items()}
    b = {v: by_lr[v][best[v]] for v in VARIANTS}
    edge = {v: not_bracketed(f"{v} lr", pick[v], best[v]) for v in VARIANTS}
    extra = {m: _best_lr(result, steps, m) for m in ("val/fid", "val/judge_acc")}

    def show(v: str) -> str:
        side = [f"{m.split('/')[1]} {extra[m][v][best[v]].text(2)}" for m in extra
                if best[v] in extra[m].get(v, {}) and extra[m][v][best[v]].mean is not None]
        return f"{v} {cmp.show(b[v])} at lr {best[v]:g}" + (f" ({', '.join(side)})" if side else "")

    def judged(claim: str, outcome: str, a: str, c: str, d) -> Verdict:
        flags = [edge[v] for v in (a, c) if edge[v]]
        picked = f" (lr picked on {cmp.select})" if cmp.select else ""
        why = (f"{cmp.metric.split('/')[0]} loss{picked}: {show(a)}; {show(c)}; " + cmp.show_diff(f"{a} - {c}", d)
               + "".join(f"; {f}" for f in flags))
        return (claim, UNSURE if flags else outcome, why)

    o, d = cmp.beats(b["dyt_nozero"], b["dyt_zero"])
    if b["dyt_zero"].n_diverged and not b["dyt_nozero"].n_diverged:
        o = HOLDS
    out = [judged("DyT in DiT needs adaLN-Zero's zero-init removed", o, "dyt_nozero", "dyt_zero", d)]
    o, d = cmp.not_worse(b["ln_zero"], b["ln_nozero"])
    out.append(judged("LN trains with adaLN-Zero's zero-init (DiT's default)", o, "ln_zero", "ln_nozero", d))
    o, d = cmp.matches(b["dyt_nozero"], b["ln_zero"])
    out.append(judged("DyT without the zero-init matches LN with it", o, "dyt_nozero", "ln_zero", d))
    return out
