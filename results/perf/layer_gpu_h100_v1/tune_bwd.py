"""Sweep the row backward's tiling on the GPU: (tile elements, BLOCK_N, max programs, warps)."""
import itertools, sys, torch, triton
from triton.testing import do_bench
from normbench.norms.fused import triton_gpu as tg

def run(x, g, a, w, dx, tile, block_n, maxp, warps):
    n, c = x.shape
    block_n = min(block_n, tg._next_pow2(c))
    block_m = max(1, tile // block_n)
    col_blocks = -(-c // block_n)
    programs = max(1, min(-(-n // block_m), maxp // col_blocks))
    rpp = -(-n // (programs * block_m)) * block_m
    programs = -(-n // rpp)
    f32 = dict(dtype=torch.float32, device=x.device)
    pw, pb = torch.empty(programs, c, **f32), torch.empty(programs, c, **f32)
    pa = torch.empty(programs, col_blocks, **f32)
    def f():
        tg.bwd_rows[(programs, col_blocks)](x, g, dx, a, w, pw, pb, pa, n, c, rpp,
                                            BLOCK_M=block_m, BLOCK_N=block_n, num_warps=warps)
        return pa.sum(), pw.sum(0), pb.sum(0)
    return f

for shape in [(32768, 4096), (16384, 768), (8192, 384)]:
    for dt in (torch.float32, torch.bfloat16):
        x = torch.randn(shape, device="cuda", dtype=dt); g = torch.randn_like(x); dx = torch.empty_like(x)
        a = torch.tensor([0.5], device="cuda"); w = torch.randn(shape[1], device="cuda")
        copy = do_bench(lambda: x.clone(), warmup=25, rep=200)
        roof = copy * 1.5  # bwd: 3 passes, copy: 2
        res = []
        for tile, bn, maxp, warps in itertools.product((2048, 4096, 8192), (128, 256, 512), (1024, 2048, 4096, 8192), (4, 8)):
            try:
                t = do_bench(run(x, g, a, w, dx, tile, bn, maxp, warps), warmup=10, rep=60)
            except Exception as e:
                continue
            res.append((t, tile, bn, maxp, warps))
        res.sort()
        cur = [r for r in res if r[1:] == (4096, 256, 1024, 4)]
        print(f"{shape} {dt}: roofline {roof*1e3:.1f} us; current {cur[0][0]*1e3 if cur else float('nan'):.1f} us", flush=True)
        for r in res[:6]:
            print(f"   {r[0]*1e3:8.1f} us  x{r[0]/roof:.2f}  tile={r[1]} bn={r[2]} maxp={r[3]} warps={r[4]}", flush=True)
