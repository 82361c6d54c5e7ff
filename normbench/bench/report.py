"""Where a benchmark's numbers go: a CSV (every number), a markdown table, a figure, meta.json.

meta.json records what a number needs to be read again later: the exact command, the
machine (CPU model, core count, GPU), torch and Python versions, the thread count, the
git commit, and the load average before and after (a busy machine shows there).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

CSV_FIELDS = ("case", "shape", "layout", "dtype", "device", "numel", "candidate", "mode", "backend", "status",
              "median_ms", "q25_ms", "q75_ms", "blocks", "calls_per_block", "ideal_bytes", "gbps",
              "copy_gbps", "roofline_ms", "x_roofline", "x_layernorm", "x_layernorm_lo", "x_layernorm_hi",
              "processes")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return proc.stdout.strip() + ("-dirty" if dirty else "") if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine(device: torch.device) -> dict:
    info = {
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "device": device.type, "git_commit": _git_commit(), "load_avg_1_5_15": load_average(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:  # which loops the fused DyT runs: 16 floats a vector (AVX-512), 8 (AVX2), 1, 0 (no C kernel)
        from normbench.norms.fused import cpu

        info["dyt_cpu_isa"], info["dyt_cpu_simd_width"] = cpu.isa(), cpu.simd_width()
    return info


def default_out_dir(root: Path = Path("results/perf")) -> Path:
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")


def write_csv(rows: list[dict], path: Path, fields: tuple[str, ...] = CSV_FIELDS) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def header(title: str, meta: dict) -> list[str]:
    """A benchmark page's first lines: the title, the command, the machine and its load."""
    m = meta["machine"]
    return [
        f"# {title}",
        "",
        f"`{meta['command']}`",
        "",
        f"{m['cpu']} ({m['cpu_count']} cores), {m.get('gpu', m['device'])}, {m['threads']} threads, "
        f"torch {m['torch']}, python {m['python']}, commit {m['git_commit']}, {meta['started']}; "
        f"load average {m['load_avg_1_5_15']} before, {meta.get('load_avg_after')} after."
        + (f" DyT's C kernel: {m['dyt_cpu_simd_width']} floats a vector (NORMBENCH_FUSED_CPU_ISA={m['dyt_cpu_isa']})."
           if "dyt_cpu_simd_width" in m else "")
        + (f" malloc: {'pinned' if meta['malloc']['pinned'] else 'as glibc comes'}." if "malloc" in meta else ""),
    ]


def _fmt(v, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _ci(r: dict) -> str:
    lo, hi = r.get("x_layernorm_lo"), r.get("x_layernorm_hi")
    return "" if lo is None or hi is None or r.get("candidate") == "layernorm" else f" [{lo:.3f}, {hi:.3f}]"


def markdown(rows: list[dict], meta: dict) -> str:
    how = (f"Each candidate alone in {meta['processes']} fresh processes (rounds, candidates in a shuffled order "
           f"each round), each the median of {meta['repeats']} blocks (~{meta['block_ms']} ms each) after "
           f"{meta['warmup']} warm-up calls; times are the median (IQR) over processes, x LayerNorm the median "
           "over rounds of the time over LayerNorm's process in the same round [a distribution-free 90 % "
           "interval for that median, order statistics; none under 5 rounds]."
           if meta.get("processes") else
           f"Median of {meta['repeats']} interleaved blocks (~{meta['block_ms']} ms each) after {meta['warmup']} "
           "warm-up calls.")
    lines = header("Norm-layer benchmark", meta) + [
        "",
        how + " GB/s: the ideal kernel's bytes (forward reads x, writes y; the backward reads x "
        "again and dy, writes dx: 5 passes for forward+backward) over the time. x roofline: the time "
        "over those bytes at the measured copy bandwidth (a clone of x). Parameters in the input dtype; "
        "forward under no_grad.",
    ]
    for case in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == case]
        copy = next(r for r in rs if r["candidate"] == "copy")
        lines += ["", f"## {case} (copy: {copy['copy_gbps']:.1f} GB/s)", "",
                  "| layer | mode | backend | median ms | IQR ms | GB/s | x roofline | x LayerNorm |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in rs:
            if r["candidate"] == "copy":
                continue
            if r.get("status") != "ok":
                lines.append(f"| {r['candidate']} | {r['mode']} | | {r['status']} | | | | |")
                continue
            lines.append(
                f"| {r['candidate']} | {r['mode']} | {r['backend']} | {r['median_ms']:.3f} | "
                f"{r['q25_ms']:.3f}-{r['q75_ms']:.3f} | {r['gbps']:.1f} | {r['x_roofline']:.2f} | "
                f"{_fmt(r.get('x_layernorm'))}{_ci(r)} |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], path: Path) -> None:
    """GB/s per candidate and case, one panel per mode, the copy bandwidth as the roofline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ("fwd", "fwdbwd") if any(r["mode"] == m for r in rows)]
    cases = list(dict.fromkeys(r["case"] for r in rows))
    cands = list(dict.fromkeys(r["candidate"] for r in rows if r["candidate"] != "copy"))
    fig, axes = plt.subplots(len(modes), 1, figsize=(max(6.0, 1.6 * len(cases) + 2), 3.6 * len(modes)),
                             squeeze=False)
    width = 0.8 / max(1, len(cands))
    for ax, mode in zip(axes[:, 0], modes):
        for j, cand in enumerate(cands):
            xs, ys = [], []
            for i, case in enumerate(cases):
                r = next((r for r in rows if r["case"] == case and r["candidate"] == cand and r["mode"] == mode
                          and r.get("status") == "ok"), None)
                if r is not None:
                    xs.append(i - 0.4 + (j + 0.5) * width)
                    ys.append(r["gbps"])
            ax.bar(xs, ys, width=width, label=cand)
        for i, case in enumerate(cases):
            copy = next(r for r in rows if r["case"] == case and r["candidate"] == "copy")
            ax.hlines(copy["copy_gbps"], i - 0.45, i + 0.45, colors="black", linewidth=2,
                      label="roofline (copy)" if i == 0 else None)
        ax.set_xticks(range(len(cases)), cases, rotation=15, fontsize=8)
        ax.set_ylabel("GB/s (ideal bytes / time)")
        ax.set_title("forward" if mode == "fwd" else "forward + backward")
        ax.legend(fontsize=7, ncols=min(4, len(cands) + 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_files(out: Path, name: str, rows: list[dict], fields: tuple[str, ...], text: str, meta: dict,
                figure_fn=None, figure_name: str | None = None) -> list[Path]:
    """A benchmark's files in `out`: <name>.csv (every number), <name>.md (text), meta.json and,
    with figure_fn(rows, path), <figure_name or name>.png."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.csv", out / f"{name}.md", out / "meta.json"]
    write_csv(rows, paths[0], fields)
    paths[1].write_text(text)
    paths[2].write_text(json.dumps(meta, indent=2) + "\n")
    if figure_fn is not None:
        paths.append(out / f"{figure_name or name}.png")
        figure_fn(rows, paths[-1])
    return paths


def write_all(rows: list[dict], meta: dict, out: Path, *, plot: bool = True) -> list[Path]:
    return write_files(out, "layer", rows, CSV_FIELDS, markdown(rows, meta), meta,
                       figure if plot else None, "layer_gbps")


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
