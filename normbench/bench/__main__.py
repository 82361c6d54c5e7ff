"""python -m normbench.bench layer|step [options]: the benchmarks (README, Performance).

    python -m normbench.bench layer --threads 2 --out /tmp/perf
    python -m normbench.bench layer --shapes 8192x384 --dtypes fp32 --candidates layernorm,dyt_fused
    python -m normbench.bench layer --shapes 8192x384 --dtypes fp32 --candidates dyt_fused --processes 10
    python -m normbench.bench step --norms layernorm,dyt --threads 2 -- model=vit data=fashion_mnist_mini
    python -m normbench.bench llama --embed-dim 512 --depth 8 --context 512 --batch 4 --threads 2

layer writes layer.csv, layer.md, layer_gbps.png and meta.json; step step.csv, step.md,
step.png and meta.json; llama (claim C10) llama.csv, llama.md, llama.png and meta.json; into --out (default results/perf/<timestamp>). Arguments after `--`
(step) are train.py overrides. A bad argument is a one-line error naming it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from normbench.errors import InputError

from . import isolated, layer, llama, malloc, report, step


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
    lp.add_argument("--malloc", default="pinned", choices=("pinned", "default"),
                    help="pinned (default): glibc's malloc thresholds fixed, so freed memory is reused the same way in "
                         "every run (normbench/bench/malloc.py); default: glibc as it comes; recorded")
    lp.add_argument("--processes", type=int, default=0,
                    help="0 (default): every candidate in this process; N: each candidate alone in a fresh process, "
                         "N rounds, x LayerNorm paired by round (normbench/bench/isolated.py)")
    sp = sub.add_parser("step", help="a training step: normbench's loop vs a bare loop, norm vs norm")
    sp.add_argument("--norms", default="layernorm,dyt", help="comma-separated norm config names; the first is the reference")
    sp.add_argument("--warmup", type=int, default=10, help="untimed steps first, each repeat")
    sp.add_argument("--steps", type=int, default=30, help="timed steps each repeat")
    sp.add_argument("--repeats", type=int, default=5, help="repeats, loops and norms in rotating order")
    sp.add_argument("--paired-steps", type=int, default=0,
                    help="N > 0: also N rounds of one bare step of each norm, alternated, each norm / the first "
                         "paired within a round (cancels a machine's drift over seconds)")
    sp.add_argument("--paired-processes", type=int, default=0,
                    help="0 (default): the --paired-steps rounds in this process; P >= 5: in P fresh processes, and the "
                         "interval over processes (carries where each process's memory lands)")
    sp.add_argument("--threads", type=int, default=None, help="trainer.threads (default: torch's); recorded")
    sp.add_argument("--device", default="cpu", help="trainer.device: cpu or cuda")
    sp.add_argument("--out", type=Path, default=None, help="output folder (default results/perf/<timestamp>)")
    sp.add_argument("--no-plot", action="store_true", help="skip the PNG figure")
    sp.add_argument("overrides", nargs="*", help="train.py overrides after --, e.g. model=vit data=fashion_mnist_mini")
    mp = sub.add_parser("llama", help="claim C10: a LLaMA with RMSNorm vs DyT, norm layers and whole model")
    mp.add_argument("--candidates", default=",".join(llama.CANDIDATES), help=f"comma-separated of {', '.join(llama.CANDIDATES)}")
    mp.add_argument("--modes", default=",".join(llama.MODES), help="inference, training")
    mp.add_argument("--embed-dim", type=int, default=512)
    mp.add_argument("--depth", type=int, default=8)
    mp.add_argument("--num-heads", type=int, default=8)
    mp.add_argument("--context", type=int, default=512)
    mp.add_argument("--batch", type=int, default=4)
    mp.add_argument("--dtype", default="fp32", help=f"one of {', '.join(layer.DTYPES)}")
    mp.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's); recorded")
    mp.add_argument("--device", default="cpu", help="cpu or cuda")
    mp.add_argument("--repeats", type=int, default=7, help="timed blocks per candidate")
    mp.add_argument("--warmup", type=int, default=2, help="untimed passes per candidate first")
    mp.add_argument("--block-ms", type=float, default=1.0, help="about how long one timed block lasts")
    mp.add_argument("--out", type=Path, default=None, help="output folder (default results/efficiency/<timestamp>)")
    mp.add_argument("--no-plot", action="store_true", help="skip the PNG figure")
    return p


def check_threads_and_device(args: argparse.Namespace) -> None:
    if args.threads is not None and args.threads < 1:
        raise layer.BenchError(f"--threads: {args.threads} is not allowed: must be >= 1")
    if args.device not in ("cpu", "cuda"):
        raise layer.BenchError(f"--device: {args.device!r} is unknown; allowed: cpu, cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise layer.BenchError("--device: 'cuda' is not available here; allowed: cpu")


def run_llama(args: argparse.Namespace, command: str) -> Path:
    check_threads_and_device(args)
    for key in ("embed_dim", "depth", "num_heads", "context", "batch", "repeats"):
        if getattr(args, key) < 1:
            raise layer.BenchError(f"--{key.replace('_', '-')}: {getattr(args, key)} is not allowed: must be >= 1")
    if args.embed_dim % args.num_heads:
        raise layer.BenchError(f"--embed-dim {args.embed_dim} is not a multiple of --num-heads {args.num_heads}")
    candidates = layer.parse_list("candidates", args.candidates, llama.CANDIDATES)
    modes = layer.parse_list("modes", args.modes, llama.MODES)
    dtype = layer._pick("dtype", args.dtype, tuple(layer.DTYPES))
    device = torch.device(args.device)
    out = args.out or report.default_out_dir(Path("results/efficiency"))
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        meta = {"command": command, "started": report.now(), "machine": report.machine(device),
                "args": {k: v for k, v in vars(args).items() if k not in ("out", "bench")}}
        rows = llama.bench_llama(candidates, modes, embed_dim=args.embed_dim, depth=args.depth,
                                 num_heads=args.num_heads, context=args.context, batch=args.batch, device=device,
                                 dtype=layer.DTYPES[dtype], repeats=args.repeats, warmup=args.warmup,
                                 block_s=args.block_ms / 1e3)
    finally:
        torch.set_num_threads(threads)
    meta["finished"], meta["load_avg_after"] = report.now(), report.load_average()
    paths = llama.write_all(rows, meta, out, plot=not args.no_plot)
    print(paths[1].read_text())
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return out


def run_step(args: argparse.Namespace, command: str) -> Path:
    from normbench.norms import norm_names

    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        raise layer.BenchError("--warmup, --steps and --repeats must be >= 1")
    if args.paired_steps < 0 or 0 < args.paired_steps < 5:
        raise layer.BenchError(f"--paired-steps must be 0 (off) or >= 5 (a 90 % interval needs 5), got {args.paired_steps}")
    if args.paired_processes < 0 or 0 < args.paired_processes < 5:
        raise layer.BenchError(f"--paired-processes must be 0 (off) or >= 5 (a 90 % interval needs 5), "
                               f"got {args.paired_processes}")
    if args.paired_processes and not args.paired_steps:
        raise layer.BenchError("--paired-processes needs --paired-steps N: it says where those rounds run")
    check_threads_and_device(args)
    norms = layer.parse_list("norms", args.norms, norm_names())
    out = args.out or report.default_out_dir()
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    meta = {"command": command, "started": report.now(), "machine": report.machine(torch.device(args.device)),
            "warmup": args.warmup, "steps": args.steps, "repeats": args.repeats, "paired_steps": args.paired_steps,
            "paired_processes": args.paired_processes,
            "overrides": args.overrides}
    try:
        rows, info = step.bench_steps(list(args.overrides), norms, warmup=args.warmup, steps=args.steps,
                                      repeats=args.repeats, threads=args.threads, device=args.device,
                                      paired_steps=args.paired_steps, paired_processes=args.paired_processes)
    finally:
        torch.set_num_threads(threads)
    meta["finished"], meta["load_avg_after"] = report.now(), report.load_average()
    paths = step.write_all(rows, info, meta, out, plot=not args.no_plot)
    print(paths[1].read_text())
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return out


def run_layer(args: argparse.Namespace, command: str) -> Path:
    check_threads_and_device(args)
    if args.repeats < 1 or args.warmup < 0 or args.block_ms <= 0 or args.processes < 0:
        raise layer.BenchError("--repeats >= 1, --warmup >= 0, --block-ms > 0 and --processes >= 0 are required")
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
    pinned = malloc.pin() if args.malloc == "pinned" else None
    meta = {"command": command, "started": report.now(), "machine": report.machine(device),
            "malloc": {"asked": args.malloc, "pinned": pinned}, "processes": args.processes,
            "repeats": args.repeats, "warmup": args.warmup, "block_ms": args.block_ms,
            "candidates": candidates, "modes": modes, "cases": [c.label for c in cases]}
    # what each fresh process is told besides its case and candidate
    passthrough = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--block-ms", str(args.block_ms),
                   "--threads", str(torch.get_num_threads()), "--device", args.device, "--malloc", args.malloc]
    rows = []
    for case in cases:
        print(f"[bench] {case.label}", file=sys.stderr, flush=True)
        if args.processes:
            rows += isolated.bench_case(case, candidates, modes, processes=args.processes, passthrough=passthrough)
        else:
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
        elif args.bench == "step":
            run_step(args, command)
        elif args.bench == "llama":
            run_llama(args, command)
    except (layer.BenchError, InputError) as e:  # InputError: a bad train.py override, no configs/ found
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
