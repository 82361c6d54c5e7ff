"""Fast DyT: a fused forward/backward pair (C on the CPU, Triton on CUDA) and torch.compile.

DyT is element-wise, so it should cost what reading and writing its tensors costs; the
eager formula instead runs three kernels forward and a dozen backward (autograd saves
alpha*x and tanh, and reduces dweight, dbias, dalpha in separate passes). Here:
- ops.dyt_fused: custom ops normbench::dyt_fwd / dyt_bwd with their autograd formula;
  one pass forward, one pass backward, x the only saved activation, deterministic
  reductions. Backends in cpu.py, triton_gpu.py and reference.py (torch ops).
- cpu_autograd.op(): the same CPU kernels for the common case behind a C++ autograd node, which
  DyT.forward calls directly (ops.dyt_fused routes cpu.rows_ok inputs to it as well; ops' Python
  Function where it cannot be built): in a training step the per-call Python, not the kernel,
  was DyT's time over LayerNorm's.
- compiled.compiled: the eager formula through torch.compile.
DyT.forward (normbench/norms/dyt.py) chooses among them by `norm.impl`.
"""

from .compiled import compiled, unavailable_reason
from .ops import backend, dyt_fused, has_kernel

__all__ = ["backend", "compiled", "dyt_fused", "has_kernel", "unavailable_reason"]
