"""The fused DyT's math in plain torch ops: the backend where no kernel applies.

Used for dtypes or devices the kernels do not take (fp16 on the CPU, CUDA without
Triton, MPS, ...) and where no C compiler exists. It keeps the fused contract (one
saved tensor, x; output in x's dtype; reductions in fp32 or fp64) but not its speed:
each line is a pass over memory. The same interface as cpu.py and triton_gpu.py:
tensors of shape (N, C, S), S == 1 for channels last.
"""

import torch


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def forward(x: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    c = x.shape[1]
    t = torch.tanh(alpha * x.to(alpha.dtype))
    out.copy_(torch.addcmul(b.view(1, c, 1), w.view(1, c, 1), t))


def backward(g: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor, dx: torch.Tensor):
    """(dalpha (1,), dweight (C,), dbias (C,)) in alpha's dtype; dx written in place."""
    c = x.shape[1]
    xf, gf = x.to(alpha.dtype), g.to(alpha.dtype)
    t = torch.tanh(alpha * xf)
    gws = gf * w.view(1, c, 1) * (1 - t * t)
    dx.copy_(alpha * gws)
    return (gws * xf).sum().reshape(1), (gf * t).sum((0, 2)), gf.sum((0, 2))
