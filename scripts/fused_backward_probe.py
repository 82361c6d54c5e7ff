"""Does the fused DyT backward cost more inside autograd than the kernel alone? (8192 x 384 fp32)

`python scripts/fused_backward_probe.py --threads 1`: the kernel's backward on a preallocated and
on a fresh output, the forward with and without autograd, forward+backward through the module and
through the bare op (the op twice, at two places in the order), the backward alone on a retained
graph, and LayerNorm's; blocks of `--calls` calls in a FIXED order (on purpose: the block before
sets the heap a call's fresh outputs land in), `--repeats` repeats, medians and page faults a
call. A diagnostic behind results/perf/README.md ("the backward inside autograd"), not a
benchmark: that is `python -m normbench.bench layer`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from normbench.bench.malloc import pin
from normbench.norms import build_norm
from normbench.norms.fused import cpu, cpu_autograd


def candidates(rows: int, channels: int) -> dict:
    x, dy = torch.randn(rows, channels), torch.randn(rows, channels)
    m, ln = build_norm("dyt", channels, impl="fused"), torch.nn.LayerNorm(channels)
    xg, dx_pre = x.detach().requires_grad_(), torch.empty_like(x)
    a, w = m.alpha.detach().reshape(1).contiguous(), m.weight.detach()
    x3, dy3 = x.view(rows, channels, 1), dy.view(rows, channels, 1)
    op, params = cpu_autograd.op(), [m.alpha, m.weight, m.bias]
    kept = m(xg)  # one graph for the backward alone

    def k_pre():
        cpu.backward(dy3, x3, a, w, dx_pre.view(rows, channels, 1))

    def k_fresh():
        cpu.backward(dy3, x3, a, w, torch.empty_like(x).view(rows, channels, 1))

    def fwd_nograd():
        with torch.no_grad():
            return m(x)

    def fwdbwd():
        return torch.autograd.grad(m(xg), [xg, *params], dy)

    def fwdbwd_op():
        return torch.autograd.grad(op(xg, m.alpha, m.weight, m.bias), [xg, *params], dy)

    def ln_fwd():
        with torch.no_grad():
            return ln(x)

    return dict(k_pre=k_pre, k_fresh=k_fresh, fwd_nograd=fwd_nograd, fwd_grad=lambda: m(xg), fwdbwd_op=fwdbwd_op,
                fwdbwd=fwdbwd, fwdbwd_op2=fwdbwd_op, fwdbwd_xonly=lambda: torch.autograd.grad(m(xg), [xg], dy),
                bwd_only_retained=lambda: torch.autograd.grad(kept, [xg, *params], dy, retain_graph=True),
                ln_fwd=ln_fwd, ln_fwdbwd=lambda: torch.autograd.grad(ln(xg), [xg, ln.weight, ln.bias], dy),
                fwdbwd_end=fwdbwd)


def main(argv=None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--channels", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args(argv)
    print("malloc pinned:", pin())
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fns = candidates(args.rows, args.channels)
    for f in fns.values():
        for _ in range(5):
            f()
    times, faults = {k: [] for k in fns}, {k: [] for k in fns}
    for _ in range(args.repeats):
        for k, f in fns.items():
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            for _ in range(args.calls):
                f()
            times[k].append((time.perf_counter() - t0) / args.calls * 1e3)
            faults[k].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / args.calls)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for k in fns:
        print(f"{k:18s} {medians[k]:7.3f} ms   faults/call {statistics.median(faults[k]):8.1f}")
    return medians


if __name__ == "__main__":
    main()
