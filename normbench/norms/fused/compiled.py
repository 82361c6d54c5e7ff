"""`norm.impl=compiled`: the eager DyT formula through torch.compile (inductor).

The comparison point for the fused kernels (inductor writes vectorised C++ on the CPU,
Triton on CUDA, but splits DyT's backward reductions into separate passes) and a way to
get DyT's forward and backward fused where no kernel of ours applies. One compiled
function is shared by every DyT layer; dynamo guards on shape, dtype and layout.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable

import torch


def unavailable_reason(device: torch.device) -> str | None:
    """Why torch.compile cannot run DyT on this device here, or None when it can."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python/platform"
    if device.type == "cpu":
        names = (os.environ.get("CXX"), "g++", "c++", "clang++")
        if not any(n and shutil.which(n) for n in names):
            return "inductor needs a C++ compiler on the CPU and none was found (set CXX, or install g++)"
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "inductor needs triton on CUDA and it is not installed"
    return None


@functools.lru_cache(maxsize=None)
def compiled(fn: Callable) -> Callable:
    """fn through torch.compile, compiled on its first call and cached per shape/dtype."""
    return torch.compile(fn, fullgraph=True)
