"""Where the fused backward's host time goes: main thread vs autograd's device thread."""
import threading, torch
from normbench.bench.timing import time_interleaved
from normbench.norms import build_norm
from normbench.norms.fused import ops, triton_gpu as tg

x = torch.randn(64, 384, device="cuda", dtype=torch.bfloat16); dy = torch.randn_like(x)
fused = build_norm("dyt", 384, impl="fused").cuda().bfloat16()
a, w = fused.alpha, fused.weight
x3, g3 = x.view(-1, 384, 1), dy.view(-1, 384, 1); dx = torch.empty_like(x); dx3 = dx.view(-1, 384, 1)
xg = x.detach().requires_grad_()
def fb():
    return torch.autograd.grad(fused(xg), [xg, *fused.parameters()], dy)
def fb_x_only():
    return torch.autograd.grad(fused(xg), [xg], dy)
class Id(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t): return t.clone()
    @staticmethod
    def backward(ctx, g):
        tg.backward(g.view(-1, 384, 1).contiguous(), x3, a, w, dx3); return g
def fb_raw_in_fn():
    return torch.autograd.grad(Id.apply(xg), [xg], dy)
def other_thread():
    th = threading.Thread(target=lambda: tg.backward(g3, x3, a, w, dx3)); th.start(); th.join()
def thread_only():
    th = threading.Thread(target=lambda: None); th.start(); th.join()
fns = {"tg.backward (main thread)": lambda: tg.backward(g3, x3, a, w, dx3),
       "ops._backward_impl (main thread)": lambda: ops._backward_impl(dy, x, a, w, False),
       "new thread, empty": thread_only, "tg.backward in a new thread": other_thread,
       "autograd.grad, clone fn, tg.backward inside": fb_raw_in_fn,
       "fused fwd+bwd (all grads)": fb, "fused fwd+bwd (dx only)": fb_x_only}
t = time_interleaved(fns, repeats=9, warmup=20, block_s=0.05, sync=torch.cuda.synchronize)
print("| call (64x384 bf16, host-bound) | us per call |\n|---|---:|")
for k, v in t.items():
    print(f"| {k} | {v.median*1e6:.1f} |")
