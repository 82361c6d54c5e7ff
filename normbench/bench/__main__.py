"""python -m normbench.bench layer [options]: the norm-layer benchmark (README, Performance).

    python -m normbench.bench layer --threads 2 --out /tmp/perf
    python -m normbench.bench layer --shapes 8192x384 --dtypes fp32 --candidates layernorm,dyt_fused

Writes layer.csv, layer.md, layer_gbps.png and meta.json into --out (default
results/perf/<timestamp>). A bad argument is a one-line error naming it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from . import layer, report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m normbench.bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="bench", required=True)
    lp = sub.add_parser("layer", help="norm layers forward and forward+backward against a copy")
    lp.add_argument("--shapes", default=",".join(layer.DEFAULT_SHAPES),
                    help="comma-separated; 8192x384 = channels last, 4-D = channels first; cl:/cf: prefix")
    lp.add_argument("--dtypes", default="fp32,bf16", help=f"comma-separated of {', '.join(layer.DTYPES)}")
    lp.add_argument("--modes", default=",".join(layer.MODES), help="fwd, fwdbwd")
    lp.add_argument("--candidates", default=None,
                    help=f"comma-separated of {', '.join(layer.CANDIDATES)} "
                         f"(default: {', '.join(layer.DEFAULT_CANDIDATES)}, plus liger_dyt on CUDA)")
    lp.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's); recorded")
    lp.add_argument("--device", default="cpu", help="cpu or cuda")
    lp.add_argument("--repeats", type=int, default=15, help="timed blocks per candidate")
    lp.add_argument("--warmup", type=int, default=3, help="untimed calls per candidate first")
    lp.add_argument("--block-ms", type=float, default=50.0, help="about how long one timed block lasts")
    lp.add_argument("--out", type=Path, default=None, help="output folder (default results/perf/<timestamp>)")
    lp.add_argument("--no-plot", action="store_true", help="skip the PNG figure")
    return p


def run_layer(args: argparse.Namespace, command: str) -> Path:
    if args.threads is not None and args.threads < 1:
        raise layer.BenchError(f"--threads: {args.threads} is not allowed: must be >= 1")
    if args.device not in ("cpu", "cuda"):
        raise layer.BenchError(f"--device: {args.device!r} is unknown; allowed: cpu, cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise layer.BenchError("--device: 'cuda' is not available here; allowed: cpu")
    if args.repeats < 1 or args.warmup < 0 or args.block_ms <= 0:
        raise layer.BenchError("--repeats >= 1, --warmup >= 0 and --block-ms > 0 are required")
    device = torch.device(args.device)
    default = list(layer.DEFAULT_CANDIDATES) + (["liger_dyt"] if device.type == "cuda" else [])
    candidates = layer.parse_list("candidates", args.candidates, layer.CANDIDATES) if args.candidates else default
    dtypes = layer.parse_list("dtypes", args.dtypes, tuple(layer.DTYPES))
    modes = layer.parse_list("modes", args.modes, layer.MODES)
    cases = [layer.Case(shape, lay, dt)
             for shape, lay in (layer.parse_shape(s) for s in args.shapes.split(",") if s.strip())
             for dt in dtypes]
    out = args.out or report.default_out_dir()
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return _run_layer(args, command, device, candidates, modes, cases, out)
    finally:
        torch.set_num_threads(threads)  # main() may be called in-process (tests, notebooks)


def _run_layer(args, command, device, candidates, modes, cases, out) -> Path:
    meta = {"command": command, "started": report.now(), "machine": report.machine(device),
            "repeats": args.repeats, "warmup": args.warmup, "block_ms": args.block_ms,
            "candidates": candidates, "modes": modes, "cases": [c.label for c in cases]}
    rows = []
    for case in cases:
        print(f"[bench] {case.label}", file=sys.stderr, flush=True)
        rows += layer.bench_case(case, candidates, modes, device, repeats=args.repeats, warmup=args.warmup,
                                 block_s=args.block_ms / 1e3)
    meta["finished"] = report.now()
    meta["load_avg_after"] = report.load_average()
    paths = report.write_all(rows, meta, out, plot=not args.no_plot)
    print(paths[1].read_text())
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    command = "python -m normbench.bench " + shlex.join(argv)
    try:
        if args.bench == "layer":
            run_layer(args, command)
    except layer.BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
