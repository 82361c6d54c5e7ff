"""Verdict rule of the conditional-generation study (dit_adaln): does DyT in a DiT need adaLN's
zero-init removed, as the DyT paper reports?

The measure is task=generate's validation loss (flow matching's velocity MSE with fixed noise
and times, so it compares across runs), lower is better, a tie within the seed spread or 0.002
(GEN). Each variant is taken at its best lr (the lowest mean over seeds, at the study's run
length), since the paper searches the lr per variant. The FID and the judge's accuracy at that
lr are shown beside the loss, not used by the rule.
"""

from __future__ import annotations

from normbench.report.tables import Cell
from normbench.study.verdicts.compare import FAILS, HOLDS, UNSURE, Compare, collect, main_length

METRIC = "val/loss"
GEN = Compare(higher=False, floor=0.002, decimals=4)
# variant names of configs/study/dit_adaln.yaml: the core (ln | dyt) x adaLN-Zero's zero-init (zero | nozero)
VARIANTS = ("ln_zero", "ln_nozero", "dyt_zero", "dyt_nozero")


def _best_lr(result, steps: int, metric: str) -> dict[str, dict[float, Cell]]:
    """{variant: {lr: cell}} at run length `steps` for `metric`."""
    by: dict[str, dict[float, Cell]] = {}
    for (v, lr, s), c in collect(result, keys=("variant", "optim.lr", "trainer.max_steps"), metric=metric).items():
        if s == steps and c.n:
            by.setdefault(str(v), {})[lr] = c
    return by


def _worse(a: Cell, b: Cell) -> bool:
    """a is worse than b: by more than the spread, or a diverged where b did not."""
    return GEN.better(b, a) or (a.n_diverged > 0 and b.n_diverged == 0)


def dit_adaln(result) -> list[tuple[str, str, str]]:
    """Each variant at its best lr by mean val loss.
    - DyT needs the zero-init removed: holds when DyT without adaLN-Zero's zero-init is better than
      DyT with it by more than the seed spread (or DyT with it diverges where DyT without does not);
      does not hold otherwise (DyT with the zero-init is not worse).
    - LN trains fine with the zero-init (the control, DiT's default): holds when LN with it is not
      worse than LN without; does not hold when it is worse.
    - DyT without the zero-init matches LN with it (adaLN-Zero): holds when not worse by more than
      the spread; does not hold when LN is better."""
    cells = collect(result, keys=("variant", "optim.lr", "trainer.max_steps"), metric=METRIC)
    steps = main_length(cells)
    if steps is None:
        return [("zero-init", UNSURE, "no runs yet")]
    by_lr = _best_lr(result, steps, METRIC)
    missing = [v for v in VARIANTS if v not in by_lr]
    if missing:
        return [("zero-init", UNSURE, f"missing variants: {missing}")]
    best = {v: max(g, key=lambda lr: GEN.score(g[lr])) for v, g in by_lr.items()}
    b = {v: by_lr[v][best[v]] for v in VARIANTS}
    extra = {m: _best_lr(result, steps, m) for m in ("val/fid", "val/judge_acc")}

    def show(v: str) -> str:
        side = [f"{m.split('/')[1]} {extra[m][v][best[v]].text(2)}" for m in extra
                if best[v] in extra[m].get(v, {}) and extra[m][v][best[v]].mean is not None]
        return f"{v} {GEN.show(b[v])} at lr {best[v]:g}" + (f" ({', '.join(side)})" if side else "")

    out = [("DyT in DiT needs adaLN-Zero's zero-init removed",
            HOLDS if _worse(b["dyt_zero"], b["dyt_nozero"]) else FAILS,
            f"val loss: {show('dyt_zero')}; {show('dyt_nozero')}")]
    out.append(("LN trains with adaLN-Zero's zero-init (DiT's default)",
                FAILS if _worse(b["ln_zero"], b["ln_nozero"]) else HOLDS,
                f"val loss: {show('ln_zero')}; {show('ln_nozero')}"))
    out.append(("DyT without the zero-init matches LN with it",
                FAILS if _worse(b["dyt_nozero"], b["ln_zero"]) else HOLDS,
                f"val loss: {show('dyt_nozero')}; {show('ln_zero')}"))
    return out
