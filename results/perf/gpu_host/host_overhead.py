"""Host cost per call on a tiny tensor (GPU time ~0): where the fused DyT's eager call spends it."""
import torch, torch.nn.functional as F
from normbench.bench.timing import time_interleaved
from normbench.norms import build_norm
from normbench.norms.fused import ops, triton_gpu as tg

x = torch.randn(64, 384, device="cuda", dtype=torch.bfloat16); dy = torch.randn_like(x)
ln = build_norm("layernorm", 384).cuda().bfloat16()
fused = build_norm("dyt", 384, impl="fused").cuda().bfloat16()
eager = build_norm("dyt", 384, impl="eager").cuda().bfloat16()
a = torch.tensor([0.5], device="cuda"); w = torch.ones(384, device="cuda"); b = torch.zeros(384, device="cuda")
y = torch.empty_like(x); x3 = x.view(-1, 384, 1); y3 = y.view(-1, 384, 1)
bm, bn = tg._row_blocks(384); grid = (-(-64 // bm), -(-384 // bn))
def raw(): tg.fwd_rows[grid](x3, y3, a, w, b, 64, 384, BLOCK_M=bm, BLOCK_N=bn)
def nograd(m):
    def f():
        with torch.no_grad(): return m(x)
    return f
def fb(m):
    xg = x.detach().requires_grad_(); ins = [xg, *m.parameters()]
    return lambda: torch.autograd.grad(m(xg), ins, dy)
fns = {"empty_like": lambda: torch.empty_like(x), "F.layer_norm": lambda: F.layer_norm(x, (384,)),
       "triton launch (fwd_rows)": raw, "ops._forward": lambda: ops._forward(x, fused.alpha, fused.weight, fused.bias, False),
       "DyT fused fwd": nograd(fused), "DyT eager fwd": nograd(eager), "LayerNorm fwd": nograd(ln),
       "DyT fused fwd+bwd": fb(fused), "DyT eager fwd+bwd": fb(eager), "LayerNorm fwd+bwd": fb(ln)}
t = time_interleaved(fns, repeats=9, warmup=20, block_s=0.05, sync=torch.cuda.synchronize)
print("| call (64x384 bf16, host-bound) | us per call |\n|---|---:|")
for k, v in t.items():
    print(f"| {k} | {v.median*1e6:.1f} |")
