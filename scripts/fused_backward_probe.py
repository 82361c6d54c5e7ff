"""Does the fused DyT backward cost more inside autograd than the kernel alone? 8192 x 384 fp32.

`python scripts/fused_backward_probe.py [threads]`: the kernel's backward on preallocated and on
fresh outputs, the forward with and without autograd, forward+backward through the module and
through the bare op (the op twice, at two places in the order), a backward alone on a retained
graph, and LayerNorm's; blocks of 10 calls in a fixed order, 15 repeats, medians, page faults a
call. A diagnostic kept for results/perf/README.md ("the backward inside autograd"), not a
benchmark: the layer benchmark is `python -m normbench.bench layer`."""
import resource, statistics, time, sys
import torch
from normbench.bench.malloc import pin
from normbench.norms import build_norm
from normbench.norms.fused import cpu, cpu_autograd

print("pinned", pin())
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(0)
x, dy = torch.randn(8192, 384), torch.randn(8192, 384)
m = build_norm("dyt", 384, impl="fused")
ln = torch.nn.LayerNorm(384)
xg = x.detach().requires_grad_()
dx_pre = torch.empty_like(x)
a, w = m.alpha.detach().reshape(1).contiguous(), m.weight.detach()
x3, dy3 = x.view(8192, 384, 1), dy.view(8192, 384, 1)
op = cpu_autograd.op()
params = [m.alpha, m.weight, m.bias]

def k_pre():
    cpu.backward(dy3, x3, a, w, dx_pre.view(8192, 384, 1))
def k_fresh():
    d = torch.empty_like(x)
    cpu.backward(dy3, x3, a, w, d.view(8192, 384, 1))
def fwd_nograd():
    with torch.no_grad():
        return m(x)
def fwd_grad():
    return m(xg)
def fwdbwd():
    return torch.autograd.grad(m(xg), [xg, *params], dy)
def fwdbwd_op():
    return torch.autograd.grad(op(xg, m.alpha, m.weight, m.bias), [xg, *params], dy)
def fwdbwd_xonly():
    return torch.autograd.grad(m(xg), [xg], dy)
y_keep = {}
def bwd_only():  # the backward alone: one graph, kept (retain_graph)
    return torch.autograd.grad(y_keep["y"], [xg, *params], dy, retain_graph=True)
def ln_fwd():
    with torch.no_grad():
        return ln(x)
def ln_fwdbwd():
    return torch.autograd.grad(ln(xg), [xg, ln.weight, ln.bias], dy)

y_keep["y"] = m(xg)
fns = dict(k_pre=k_pre, k_fresh=k_fresh, fwd_nograd=fwd_nograd, fwd_grad=fwd_grad, fwdbwd_op=fwdbwd_op, fwdbwd=fwdbwd,
           fwdbwd_op2=fwdbwd_op, fwdbwd_xonly=fwdbwd_xonly, bwd_only_retained=bwd_only, ln_fwd=ln_fwd, ln_fwdbwd=ln_fwdbwd, fwdbwd_end=fwdbwd)
for f in fns.values():
    for _ in range(5): f()
times = {k: [] for k in fns}; faults = {k: [] for k in fns}
for rep in range(15):
    for k, f in fns.items():
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        for _ in range(10): f()
        t = (time.perf_counter() - t0) / 10
        times[k].append(t * 1e3)
        faults[k].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
for k in fns:
    print(f"{k:18s} {statistics.median(times[k]):7.3f} ms   faults/call {statistics.median(faults[k]):8.1f}")
