"""Time each norm layer's forward and backward inside a real training step, norm against norm.

    python scripts/norm_layer_times.py --threads 1 --norms identity,layernorm,dyt --out results/perf/step_layers

Why: a layer benchmark times a norm alone, with its data hot in cache and the interpreter warm;
inside a step the same call costs several times more. This wraps every norm layer's forward
(wall clock around the call) and hooks its backward node (from the node's pre-hook to its
hook), steps the default ViT with the bench's bare loop (frozen heap, as Trainer.fit), and
reports the median over repeats of the per-layer microseconds and of the step. The hooks cost
a little themselves, equally for every norm. train.py overrides go after --.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path


def install(model, acc):
    from normbench.norms.base import NormLayer

    layers = 0
    for m in model.modules():
        if isinstance(m, NormLayer):
            layers += 1
            fwd = m.forward

            def timed(x, fwd=fwd):
                t0 = time.perf_counter()
                y = fwd(x)
                acc["fwd"] += time.perf_counter() - t0
                if y is not x and y.grad_fn is not None:  # an identity norm hands x back: no node of its own
                    start = {}
                    y.grad_fn.register_prehook(lambda g: start.__setitem__("t", time.perf_counter()))
                    y.grad_fn.register_hook(lambda gi, go: acc.__setitem__("bwd", acc["bwd"] + time.perf_counter() - start["t"]))
                return y
            m.forward = timed
    return layers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--norms", default="layernorm,dyt")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args(argv)
    from normbench.bench.step import bare_steps, bench_overrides, compose_run
    from normbench.train.gc_freeze import frozen_heap
    from normbench.train.loop import Trainer

    norms, acc, runs, layers = a.norms.split(","), collections.Counter(), {}, {}
    tmp = Path(tempfile.mkdtemp(prefix="normbench-layers-"))
    for norm in norms:
        cfg = compose_run(bench_overrides(a.overrides or ["model=vit"], norm, 10, a.steps, a.threads))
        runs[norm] = Trainer(cfg, tmp / norm)
        runs[norm].model.train()
        layers[norm] = install(runs[norm].model, acc)
        bare_steps(runs[norm], 5)
    res = collections.defaultdict(list)
    with frozen_heap():
        for r in range(a.repeats):
            for norm in norms[r % len(norms):] + norms[:r % len(norms)]:
                acc.clear()
                t0 = time.perf_counter()
                bare_steps(runs[norm], a.steps)
                res[norm, "step_ms"].append((time.perf_counter() - t0) / a.steps * 1e3)
                for k in ("fwd", "bwd"):
                    res[norm, f"{k}_us_per_layer"].append(acc[k] / a.steps / max(layers[norm], 1) * 1e6)
    rows = [{"norm": n, "layers": layers[n], **{k: round(statistics.median(res[n, k]), 1)
                                                for k in ("step_ms", "fwd_us_per_layer", "bwd_us_per_layer")}}
            for n in norms]
    lines = [f"threads={a.threads}, {a.steps} steps x {a.repeats} repeats, overrides {a.overrides or ['model=vit']}",
             "", "| norm | layers | ms/step | forward us/layer | backward us/layer |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['norm']} | {r['layers']} | {r['step_ms']} | {r['fwd_us_per_layer']} | {r['bwd_us_per_layer']} |"
              for r in rows]
    print("\n".join(lines))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        name = f"layers_{a.threads}thread"
        (a.out / f"{name}.md").write_text("\n".join(lines) + "\n")
        (a.out / f"{name}.json").write_text(json.dumps({"command": " ".join(["python", *__import__("sys").argv]), "threads": a.threads, "rows": rows,
                                                        "load_avg": list(__import__("os").getloadavg())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
