"""Verdict rules of the language-model studies: validation bits per byte, lower is better, a
tie within the seed spread or 0.01 bits per byte (compare.BPB)."""

from __future__ import annotations

from normbench.report.tables import Cell
from normbench.study.verdicts.compare import BPB, FAILS, HOLDS, UNSURE, collect

METRIC = "val/bpb"


def _main_length(cells: dict[tuple, Cell]) -> int | None:
    """The study's run length: the most common one (a run-length check may be longer)."""
    lengths = [k[-1] for k, c in cells.items() if c.n]
    return max(set(lengths), key=lengths.count) if lengths else None


def length_check(cells: dict[tuple, Cell], variant: str) -> list[tuple[str, str, str]]:
    """How far `variant` at the study's length is from its run twice as long."""
    runs = sorted((k[-1], c) for k, c in cells.items() if k[0] == variant and c.n and c.mean is not None)
    if len(runs) < 2:
        return []
    (s1, c1), (s2, c2) = runs[:2]
    return [(f"run length, {variant}", f"{c2.mean - c1.mean:+.3f} bits per byte from {s1} to {s2} steps",
             f"{s1} steps: {BPB.show(c1)}; {s2} steps: {BPB.show(c2)}")]


def llm_norms(result) -> list[tuple[str, str, str]]:
    """C1 (LLM): DyT (with the sqrt(d) embedding scalar) matches RMSNorm when its validation bits
    per byte is not worse by more than the seed spread; it does not hold when RMSNorm is better.
    C6 (embedding scalar): holds when DyT without the scalar is worse than with it by more than
    the spread (or diverges); it does not hold when it is not worse."""
    cells = collect(result, keys=("variant", "trainer.max_steps"), metric=METRIC)
    steps = _main_length(cells)
    c = {k[0]: v for k, v in cells.items() if k[-1] == steps and v.n}
    need = ("rmsnorm", "dyt", "dyt_noscale")
    if any(v not in c for v in need):
        return [("C1 (LLM)", UNSURE, f"missing variants: {[v for v in need if v not in c]}")]
    rms, dyt, noscale = (c[v] for v in need)
    out = [("C1 (LLM): DyT matches RMSNorm", HOLDS if BPB.not_worse(dyt, rms) else FAILS,
            f"val bits per byte: RMSNorm {BPB.show(rms)}, DyT {BPB.show(dyt)}")]
    struggles = noscale.n_diverged > 0 or BPB.better(dyt, noscale)
    out.append(("C6: DyT without the sqrt(d) embedding scalar struggles", HOLDS if struggles else FAILS,
                f"DyT {BPB.show(dyt)}, without the scalar {BPB.show(noscale)}"))
    return out + length_check(cells, "rmsnorm")


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
    steps = _main_length(cells)
    c = {k[0]: v for k, v in cells.items() if k[-1] == steps and v.n}
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
