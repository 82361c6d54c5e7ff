"""Saturation and input std per norm position at the last probe, mean over seeds, per cell.

python results/llm_alpha0/probe_summary.py [variant ...]   (reads runs/<variant>/*/probes.jsonl)
"""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

RUNS = Path(__file__).parent / "runs"


def cell(name: str) -> tuple[float, float]:
    kv = dict(p.split("=") for p in name.split(","))
    return float(kv["norm.alpha0_attn"]), float(kv["norm.alpha0"])


def last_stats(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("kind") == "stats"]
    last = max(r["step"] for r in rows)
    return {r["layer"]: r for r in rows if r["step"] == last}


def position(layer: str) -> str:
    return "attn" if layer.endswith("attention_norm") else ("final" if layer == "norm" else "ffn")


def main(variants: list[str]) -> None:
    print("| variant | attn / other | sat attn | sat ffn | sat final | final-norm input std | runs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for v in variants:
        acc = defaultdict(lambda: defaultdict(list))
        for run in sorted((RUNS / v).glob("*/probes.jsonl")):
            summary = json.loads((run.parent / "summary.json").read_text())
            if summary.get("status") != "ok":
                continue
            stats = last_stats(run)
            per = defaultdict(list)
            for layer, r in stats.items():
                if re.match(r"layers\.0\.", layer):  # the first block's inputs barely grow: skip it
                    continue
                per[position(layer)].append(r["saturation"])
            key = cell(run.parent.name.rsplit(",trainer.seed=", 1)[0])
            for pos, xs in per.items():
                acc[key][pos].append(statistics.mean(xs))
            acc[key]["std"].append(stats["norm"]["input_std"])
        for (attn, other), d in sorted(acc.items()):
            print(f"| {v} | {attn:g} / {other:g} | {statistics.mean(d['attn']):.2f} | {statistics.mean(d['ffn']):.2f} | "
                  f"{statistics.mean(d['final']):.2f} | {statistics.mean(d['std']):.1f} | {len(d['std'])} |")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(p.name for p in RUNS.iterdir() if p.is_dir()))
