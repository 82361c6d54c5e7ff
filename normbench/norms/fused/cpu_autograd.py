"""DyT's CPU kernels behind a C++ autograd node (dyt_cpu_autograd.cpp): torch.ops.normbench_cpu.dyt_rows.

Why: in a training step a Python autograd.Function costs tens of microseconds a call more than
a C++ node (its interpreter caches are cold between the model's big kernels), which was DyT's
whole time over LayerNorm's in the default ViT's step (results/perf/README.md). The node calls
the same C kernels as cpu.py, so results are bit-identical to the Python path.

Built the first time it is needed: dyt_cpu.c compiled with the C flags cpu.py uses, the C++ file
against the running torch's headers (C++20, torch's C++ ABI), linked into one library and loaded
with torch.ops.load_library; about 15 s on 2 cores, once per torch version and machine, cached
beside cpu.py's library. No ninja and no torch.utils.cpp_extension: the headers and libraries
inside the torch package are all it needs. Where no C++ compiler is found or the build fails, op() is None (reason() says
why) and DyT uses ops.py's Python autograd.Function around the same kernels. NORMBENCH_FUSED_CPU_CXX=0 switches the node off.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from . import cpu

log = logging.getLogger("normbench")

_SOURCE = (Path(__file__).parent / "dyt_cpu_autograd.cpp").read_text(encoding="utf-8")
_unavailable_reason: str | None = None


def _cxx() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _torch_paths() -> tuple[list[Path], list[Path]]:
    """The running torch's headers and libraries (what torch.utils.cpp_extension would use on a CPU)."""
    root = Path(torch.__file__).parent
    return [root / "include", root / "include" / "torch" / "csrc" / "api" / "include"], [root / "lib"]


def _build(cc: str, cxx: str) -> Path:
    include, libdirs = _torch_paths()
    versions = [subprocess.run([c, "--version"], capture_output=True, text=True, timeout=60).stdout for c in (cc, cxx)]
    c_flags = [f for f in cpu.flag_sets()[0] if f != "-shared"]  # -O3 -march=native ... -fopenmp -fPIC
    key = hashlib.sha256("\0".join([cpu._SOURCE, _SOURCE, cc, cxx, *versions, torch.__version__, torch.__file__,
                                    platform.machine(), cpu._cpu_id(), repr(c_flags)]).encode()).hexdigest()[:16]
    out = cpu._cache_dir() / f"dyt_cpu_autograd_{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("building DyT's C++ autograd node for this torch (once, about 15 s): %s", out)
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        c_src, cpp_src, obj, lib = (Path(tmp) / n for n in ("dyt_cpu.c", "dyt_cpu_autograd.cpp", "dyt_cpu.o", "node.so"))
        c_src.write_text(cpu._SOURCE)
        cpp_src.write_text(_SOURCE)
        steps = [[cc, *c_flags, "-c", str(c_src), "-o", str(obj)],
                 [cxx, "-O2", "-std=c++20", "-fPIC", "-shared", "-fopenmp", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
                  *(f"-I{p}" for p in include), str(cpp_src), str(obj), "-o", str(lib),
                  *(f"-L{p}" for p in libdirs), "-lc10", "-ltorch_cpu", "-ltorch", "-lm",
                  *(f"-Wl,-rpath,{p}" for p in libdirs)]]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"{Path(argv[0]).name}: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}")
        os.replace(lib, out)  # atomic: parallel runs of a sweep may build at once
    return out


@functools.lru_cache(maxsize=None)
def op():
    """torch.ops.normbench_cpu.dyt_rows.default, built and loaded on first use; None where it cannot be."""
    global _unavailable_reason
    if os.environ.get("NORMBENCH_FUSED_CPU_CXX", "1") == "0":
        _unavailable_reason = "switched off by NORMBENCH_FUSED_CPU_CXX=0"
        return None
    if cpu.library() is None:
        _unavailable_reason = f"no C kernel: {cpu.reason()}"
        return None
    cc, cxx = cpu._compiler(), _cxx()
    if cxx is None:
        _unavailable_reason = "no C++ compiler found (set CXX, or install g++ or clang++)"
        return None
    try:
        torch.ops.load_library(str(_build(cc, cxx)))
        return torch.ops.normbench_cpu.dyt_rows.default
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        _unavailable_reason = f"building DyT's C++ autograd node failed: {e}"
        warnings.warn(f"normbench fused DyT: {_unavailable_reason}; using its Python autograd path", stacklevel=2)
        return None


def reason() -> str | None:
    """Why op() is None (after it was called), else None."""
    return _unavailable_reason
