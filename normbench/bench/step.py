"""The training-step benchmark: normbench's loop against a bare PyTorch loop, and norm against norm.

Why: a framework earns its keep only if it costs (almost) nothing per step. For each norm,
both loops train the same model (built by the same builder, from the same seed) with the
same optimizer, schedule, clipping, loss and data stream, in one process:

- normbench: `Trainer(cfg).fit()`, the loop every run uses (tracker, divergence guard, stop
  requests, periodic actions), with evaluation, checkpoints and probes moved past the timed
  window; its time per step is the loop's own train clock over the timed steps.
- bare: the same Trainer's model, optimizer, schedule and task, stepped by the textbook loop
  (next batch, loss, zero_grad, backward, clip, step, schedule) and timed with a wall clock.

Each repeat runs `warmup` untimed steps then `steps` timed ones, the loops and norms in a
rotating order (a machine's drift spreads over all of them); the result is the median time
per step over repeats. The data stream alone (next_batch) is timed separately, so one can see
that it is not what the step waits on.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from normbench.config.compose import compose_run

from .timing import median_ci

LOOPS = ("normbench", "bare")


def bench_overrides(base: list[str], norm: str, warmup: int, steps: int, threads: int | None) -> list[str]:
    """The run's overrides: log once after the warm-up and once at the end, nothing else inside."""
    total = warmup + steps
    return [*base, f"norm={norm}", f"trainer.max_steps={total}", f"trainer.log_every={warmup}",
            f"trainer.eval_every={total}", f"trainer.ckpt_every={total}", "probe.enabled=false",
            "trainer.progress=false", "logger.wandb.mode=disabled",
            *([f"trainer.threads={threads}"] if threads else [])]


def time_normbench(cfg, run_dir: Path, warmup: int, steps: int) -> float:
    """Seconds per step of Trainer.fit over the steps after the warm-up (the loop's own train clock)."""
    import json

    from normbench.train.loop import Trainer

    Trainer(cfg, run_dir).fit()
    train = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    train = [e for e in train if e.get("split") == "train"]
    by_step = {e["step"]: e["train_time_s"] for e in train}
    return (by_step[warmup + steps] - by_step[warmup]) / steps


def bare_steps(run, n: int) -> None:
    """The textbook loop on the run's own model, optimizer, schedule and data."""
    model, opt, sched, task = run.model, run.optimizer, run.schedule, run.task
    clip = run.cfg.optim.grad_clip
    for _ in range(n):
        batch = task.next_batch()
        loss = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
    float(loss.detach())  # wait for the last step (one host sync, as the framework's log has)


def time_bare(cfg, run_dir: Path, warmup: int, steps: int, sync) -> float:
    from normbench.train.gc_freeze import frozen_heap
    from normbench.train.loop import Trainer

    run = Trainer(cfg, run_dir)
    run.model.train()
    with frozen_heap():  # as Trainer.fit steps: the same work, so the ratio is the loop's own cost
        bare_steps(run, warmup)
        sync()
        t0 = time.perf_counter()
        bare_steps(run, steps)
        sync()
    return (time.perf_counter() - t0) / steps


def time_paired_steps(cfgs: dict, norms: list[str], root: Path, warmup: int, rounds: int, sync) -> dict[str, list[float]]:
    """Seconds of each bare step, the norms alternated step by step: every norm's model lives in
    this process and each round runs one step of each, in an order that reverses round to round
    (A B, B A, ...), so a round's steps are adjacent in time. On a shared machine whose speed
    drifts over seconds, a ratio within a round cancels that drift; a ratio of repeats of many
    steps carries it (issue 27: per-repeat ratios on a 2-vCPU VM ranged 0.80-1.22)."""
    from normbench.train.gc_freeze import frozen_heap
    from normbench.train.loop import Trainer

    runs = {n: Trainer(cfgs[n], root / f"paired-{n}") for n in norms}
    times: dict[str, list[float]] = {n: [] for n in norms}
    with frozen_heap():
        for n in norms:
            runs[n].model.train()
            bare_steps(runs[n], warmup)
        sync()
        for r in range(rounds):
            for n in (norms if r % 2 == 0 else norms[::-1]):
                t0 = time.perf_counter()
                bare_steps(runs[n], 1)
                sync()
                times[n].append(time.perf_counter() - t0)
    return times


def device_sync(device: str):
    """What waits for the device's queued work: cuda's synchronize, nothing on the CPU."""
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def paired_steps_here(base: list[str], norms: list[str], root: Path, warmup: int, rounds: int,
                      threads: int | None, device: str) -> dict[str, list[float]]:
    """time_paired_steps on runs long enough that the schedule does not end inside the rounds
    (base: the train.py overrides, trainer.device included)."""
    cfgs = {n: compose_run(bench_overrides(base, n, warmup, rounds, threads)) for n in norms}
    return time_paired_steps(cfgs, norms, root, warmup, rounds, device_sync(device))


def paired_in_fresh_process(spec: dict, out: Path) -> dict[str, list[float]]:
    """paired_steps_here in a new interpreter (spec: its arguments but root):
    where each model's memory lands is decided per process and moved the step-paired ratio by
    about ±0.3 % from one process to the next (results/perf/README.md), so an interval over
    processes carries that spread, where one process's interval cannot."""
    argv = [sys.executable, "-c", "import sys; from normbench.bench.step import _paired_child; _paired_child(sys.argv[1])",
            json.dumps({**spec, "out": str(out)})]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the paired-steps process failed ({proc.returncode}): {tail[0]}")
    return json.loads((out / "paired.json").read_text())


def _paired_child(spec_json: str) -> None:
    spec = json.loads(spec_json)
    out = Path(spec.pop("out"))
    out.mkdir(parents=True, exist_ok=True)
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    (out / "paired.json").write_text(json.dumps(paired_steps_here(root=out, **spec)))


def time_data(cfg, run_dir: Path, n: int) -> float:
    """Seconds per next_batch() of the task's stream alone."""
    from normbench.train.loop import Trainer

    task = Trainer(cfg, run_dir).task
    task.next_batch()
    t0 = time.perf_counter()
    for _ in range(n):
        task.next_batch()
    return (time.perf_counter() - t0) / n


def bench_steps(base: list[str], norms: list[str], *, warmup: int, steps: int, repeats: int,
                threads: int | None, device: str = "cpu", paired_steps: int = 0,
                paired_processes: int = 0) -> tuple[list[dict], dict]:
    """(rows, info): one row per (norm, loop) with the median seconds per step over repeats; with
    paired_steps, info["per_step"] also pairs the norms step by step (time_paired_steps), in this
    process or, with paired_processes = P, in P fresh processes one after another (each ratio's
    median per process, and the interval of their median over processes)."""
    sync = device_sync(device)
    base = [*base, f"trainer.device={device}"]
    cfgs = {n: compose_run(bench_overrides(base, n, warmup, steps, threads)) for n in norms}
    keys = [(n, loop) for n in norms for loop in LOOPS]
    per_step: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    info, each, per_process = {}, {}, []
    with tempfile.TemporaryDirectory(prefix="normbench-step-") as tmp:
        for r in range(repeats):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for norm, loop in order:
                run_dir = Path(tmp) / f"{norm}-{loop}-{r}"
                fn = time_normbench if loop == "normbench" else (lambda c, d, w, s: time_bare(c, d, w, s, sync))
                per_step[(norm, loop)].append(fn(cfgs[norm], run_dir, warmup, steps))
                print(f"[bench step] repeat {r + 1}/{repeats} {norm} {loop}: "
                      f"{per_step[(norm, loop)][-1] * 1e3:.1f} ms/step", flush=True)
        spec = {"base": base, "norms": norms, "warmup": warmup, "rounds": paired_steps, "threads": threads,
                "device": device}
        if paired_steps and len(norms) > 1 and paired_processes:
            for i in range(paired_processes):
                print(f"[bench step] paired steps, process {i + 1}/{paired_processes}", flush=True)
                # the first norm leads in even processes, the second in odd ones: no norm always steps first
                got = paired_in_fresh_process({**spec, "norms": norms if i % 2 == 0 else norms[::-1]},
                                              Path(tmp) / f"process-{i}")
                per_process.append({n: got[n] for n in norms})
            each = {n: [t for got in per_process for t in got[n]] for n in norms}
        elif paired_steps and len(norms) > 1:
            each = paired_steps_here(root=Path(tmp), **spec)
        info["data_ms_per_batch"] = time_data(cfgs[norms[0]], Path(tmp) / "data", max(steps, 10)) * 1e3
        c = cfgs[norms[0]]
        info.update(model=c.model.name, data=c.data.name, batch_size=int(c.data.batch_size), task=c.task.name)
    rows = []
    for norm, loop in keys:
        xs = per_step[(norm, loop)]
        rows.append({"norm": norm, "loop": loop, "median_ms": statistics.median(xs) * 1e3,
                     "min_ms": min(xs) * 1e3, "max_ms": max(xs) * 1e3, "repeats": len(xs),
                     "samples_per_s": info["batch_size"] / statistics.median(xs)})
    first = norms[0]
    for row in rows:
        bare = next(r for r in rows if r["norm"] == row["norm"] and r["loop"] == "bare")
        ref = next(r for r in rows if r["norm"] == first and r["loop"] == row["loop"])
        row["x_bare"] = row["median_ms"] / bare["median_ms"]
        row[f"x_{first}"] = row["median_ms"] / ref["median_ms"]
    # ratios per repeat (paired: their runs were made in the same repeat), their median and spread:
    # the loop's overhead, and each norm against the first in the same loop. A ratio of medians
    # would carry each median's own noise; a paired ratio cancels the machine's drift.
    def spread(xs: list[float]) -> dict:  # the 90 % interval of the median: None under 5 repeats
        lo, hi = median_ci(xs) or (None, None)
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "ci90_lo": lo, "ci90_hi": hi}

    if each:
        info["per_step"] = {"rounds": paired_steps,
                            "median_ms": {n: statistics.median(xs) * 1e3 for n, xs in each.items()},
                            "ratio": {n: spread([a / b for a, b in zip(each[n], each[norms[0]])]) for n in norms[1:]}}
    if per_process:  # each process's median ratio; the interval of their median spans processes
        med = {n: [statistics.median(a / b for a, b in zip(got[n], got[norms[0]])) for got in per_process]
               for n in norms[1:]}
        info["per_step"].update(processes=len(per_process), process_medians=med,
                                ratio_processes={n: spread(xs) for n, xs in med.items()})
    for norm in norms:
        info[f"overhead_{norm}"] = spread([f / b for f, b in zip(per_step[(norm, "normbench")], per_step[(norm, "bare")])])
        if norm != norms[0]:
            info.setdefault("paired", {})[norm] = {
                loop: spread([a / b for a, b in zip(per_step[(norm, loop)], per_step[(norms[0], loop)])])
                for loop in LOOPS}
    return rows, info


FIELDS = ("norm", "loop", "median_ms", "min_ms", "max_ms", "repeats", "samples_per_s", "x_bare")


def _spread(o: dict) -> str:
    ci = f" [{o['ci90_lo']:.3f}, {o['ci90_hi']:.3f}]" if o.get("ci90_lo") is not None else ""
    return f"{o['median']:.3f}{ci} (min {o['min']:.3f}, max {o['max']:.3f})"


def per_step_lines(info: dict, first: str) -> list[str]:
    """The step-by-step pairing's paragraph (--paired-steps), or nothing where it did not run."""
    if "per_step" not in info:
        return []
    p = info["per_step"]
    ms = ", ".join(f"{n} {v:.1f}" for n, v in p["median_ms"].items())
    if "processes" in p:
        return ["", f"Each norm / {first}, paired step by step in {p['processes']} fresh processes (bare loop; every "
                f"norm's model in the process, one step of each a round, the order reversed every round; "
                f"{p['rounds']} rounds a process; median ms a step: {ms}): median over processes of each process's "
                "median ratio " + "; ".join(f"{n} {_spread(o)}" for n, o in p["ratio_processes"].items())
                + "; per process " + "; ".join(f"{n} " + ", ".join(f"{x:.4f}" for x in xs)
                                               for n, xs in p["process_medians"].items())
                + "; all rounds pooled " + "; ".join(f"{n} {_spread(o)}" for n, o in p["ratio"].items())]
    return ["", f"Each norm / {first}, paired step by step (bare loop; every norm's model in this process, one "
            f"step of each a round, the order reversed every round; {p['rounds']} rounds; median ms a step: {ms}): "
            + "; ".join(f"{n} {_spread(o)}" for n, o in p["ratio"].items())]


def markdown(rows: list[dict], info: dict, meta: dict) -> str:
    from .report import header

    first = rows[0]["norm"]
    lines = header("Training-step benchmark", meta) + [
        "",
        f"model={info['model']} data={info['data']} task={info['task']}, batch {info['batch_size']}: "
        f"{meta['warmup']} warm-up steps, then {meta['steps']} timed, {meta['repeats']} repeats; the loops "
        "and norms interleaved in one process. normbench: the loop's own train clock (evaluation, "
        "checkpoint, probes moved past the timed steps); bare: the textbook loop on the same model, "
        "optimizer, schedule, clipping and data, by the wall clock. Median over repeats.",
        "",
        f"| norm | loop | median ms/step | min-max ms | samples/s | x bare | x {first} |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['norm']} | {r['loop']} | {r['median_ms']:.1f} | {r['min_ms']:.1f}-{r['max_ms']:.1f} | "
                     f"{r['samples_per_s']:.0f} | {r['x_bare']:.3f} | {r[f'x_{first}']:.3f} |")
    lines += ["", "Framework overhead (normbench / bare, paired per repeat; median [90 % interval of the median, "
              "order statistics] (min, max)): " + "; ".join(
        f"{n} {_spread(o)}"
        for n, o in ((k.removeprefix("overhead_"), v) for k, v in info.items() if k.startswith("overhead_"))),
        "", f"Each norm / {first}, paired per repeat: " + ("; ".join(
            f"{n} ({loop} loop) {_spread(o)}"
            for n, by_loop in info.get("paired", {}).items() for loop, o in by_loop.items()) or "one norm only"),
        *per_step_lines(info, first),
        "", f"Data stream alone (next_batch): {info['data_ms_per_batch']:.2f} ms per batch."]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], path: Path) -> None:
    """ms per step, one bar pair (normbench, bare) per norm, with the min-max over repeats."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norms = list(dict.fromkeys(r["norm"] for r in rows))
    fig, ax = plt.subplots(figsize=(2 + 1.4 * len(norms), 3.4))
    for j, loop in enumerate(LOOPS):
        rs = [next(r for r in rows if r["norm"] == n and r["loop"] == loop) for n in norms]
        xs = [i - 0.2 + 0.4 * j for i in range(len(norms))]
        ax.bar(xs, [r["median_ms"] for r in rs], width=0.4, label=loop,
               yerr=[[r["median_ms"] - r["min_ms"] for r in rs], [r["max_ms"] - r["median_ms"] for r in rs]],
               capsize=3)
    ax.set_xticks(range(len(norms)), norms)
    ax.set_ylabel("ms per training step (median)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_all(rows: list[dict], info: dict, meta: dict, out: Path, *, plot: bool = True) -> list[Path]:
    from .report import write_files

    fields = FIELDS + (f"x_{rows[0]['norm']}",)
    return write_files(out, "step", rows, fields, markdown(rows, info, meta), {**meta, "info": info},
                       figure if plot else None)
