"""The layer benchmark with each candidate in its own fresh process, paired by round.

Why: on CPU, which freed heap blocks a call's fresh outputs land in depends on what ran before in
the process; at 8192 x 384 fp32 it moved the same layer by 10-15 % and LayerNorm's own
forward+backward by 25 % between two processes of the same code (results/perf/README.md). In one
process every candidate inherits the others' temporaries. Here each (case, candidate) runs alone in
a new interpreter (`python -m normbench.bench layer` on that one candidate), `processes` rounds of
them, the candidates in a fresh seeded order each round; a candidate's x LayerNorm is the median over
rounds of its time over LayerNorm's in the same round (with a 90 % interval for that median), so the
machine's drift between rounds cancels in each pair. Every process also times the copy, for the roofline.
"""

from __future__ import annotations

import csv
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .layer import Case
from .timing import median_ci, quantile

NUMERIC = ("numel", "median_ms", "q25_ms", "q75_ms", "blocks", "calls_per_block", "ideal_bytes", "gbps",
           "copy_gbps", "roofline_ms", "x_roofline", "x_layernorm")


def shape_spec(case: Case) -> str:
    return ("cf:" if case.layout == "channels_first" else "cl:") + "x".join(map(str, case.shape))


def _read_rows(path: Path) -> list[dict]:
    rows = []
    for row in csv.DictReader(open(path)):
        rows.append({k: (float(v) if k in NUMERIC and v != "" else v) for k, v in row.items()})
    return rows


def run_one(case: Case, candidate: str, modes: list[str], out: Path, *, passthrough: list[str]) -> list[dict]:
    """One fresh interpreter timing `candidate` (and the copy) on `case`; its csv rows."""
    argv = [sys.executable, "-m", "normbench.bench", "layer", "--shapes", shape_spec(case), "--dtypes", case.dtype,
            "--candidates", candidate, "--modes", ",".join(modes), "--out", str(out), "--no-plot", *passthrough]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the benchmark process for {candidate} on {case.label} failed ({proc.returncode}): {tail[0]}")
    return _read_rows(out / "layer.csv")


def bench_case(case: Case, candidates: list[str], modes: list[str], *, processes: int, passthrough: list[str],
               seed: int = 0) -> list[dict]:
    """The same rows as layer.bench_case, each number a median over `processes` fresh processes."""
    if "layernorm" not in candidates:
        candidates = ["layernorm", *candidates]  # the pairing reference
    rng, order = random.Random(seed), list(candidates)
    per_round: list[dict[tuple[str, str], dict]] = []
    with tempfile.TemporaryDirectory(prefix="normbench-isolated-") as tmp:
        for r in range(processes):
            rng.shuffle(order)
            got = {}
            for cand in order:
                print(f"[bench] {case.label}: round {r + 1}/{processes}, {cand}", file=sys.stderr, flush=True)
                for row in run_one(case, cand, modes, Path(tmp) / f"{r}-{cand}", passthrough=passthrough):
                    key = ("copy", "copy") if row["candidate"] == "copy" else (row["candidate"], row["mode"])
                    got.setdefault(key, []).append(row)
            per_round.append(got)
    return _combine(per_round, candidates, modes, processes)


def _combine(per_round: list[dict], candidates: list[str], modes: list[str], processes: int) -> list[dict]:
    keys = [("copy", "copy")] + [(c, m) for c in candidates for m in modes]
    out = []
    copy_bw = statistics.median(row["copy_gbps"] for got in per_round for row in got[("copy", "copy")]) * 1e9
    for key in keys:
        rows = [row for got in per_round for row in got.get(key, [])]
        first = dict(rows[0])
        first["processes"] = processes
        ok = [row for row in rows if row["status"] == "ok"]
        if not ok:
            out.append(first)
            continue
        medians = [row["median_ms"] for row in ok]
        med = statistics.median(medians)
        first.update(median_ms=med, q25_ms=quantile(medians, 0.25), q75_ms=quantile(medians, 0.75),
                     blocks=sum(int(row["blocks"]) for row in ok), copy_gbps=copy_bw / 1e9,
                     gbps=first["ideal_bytes"] / (med / 1e3) / 1e9,
                     roofline_ms=first["ideal_bytes"] / copy_bw * 1e3)
        first["x_roofline"] = med / first["roofline_ms"]
        if key[0] != "copy":  # paired by round: this round's LayerNorm process, same mode
            ratios = [got[key][0]["median_ms"] / got[("layernorm", key[1])][0]["median_ms"]
                      for got in per_round if key in got and got[key][0]["status"] == "ok"
                      and got.get(("layernorm", key[1]), [{}])[0].get("status") == "ok"]
            if ratios:
                ci = median_ci(ratios) or (None, None)
                first.update(x_layernorm=statistics.median(ratios), x_layernorm_lo=ci[0], x_layernorm_hi=ci[1])
        out.append(first)
    return out
