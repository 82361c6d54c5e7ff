"""glibc's malloc held still for the layer benchmark: fixed thresholds, so freed memory is reused.

Why: by default glibc moves its mmap threshold as blocks are freed and gives memory back to the
kernel past a trim threshold, so whether a layer's fresh 12 MB output is page-faulted in again on
the next call depends on the process's allocation history, not on the layer. On the development
machine one process ran 300 fp32 8192 x 384 forward+backward calls with 110-130 k page faults and
another, the same code, with 500-730 k and up to twice the time (perf stat; results/perf/README.md),
for LayerNorm and DyT alike. Pinned, the block-to-block spread of the 8192 x 384 case fell from
2-3 x to a few per cent (it does not stop every fault: a fresh process still faults on part of a
reallocated 12 MiB block). A training step is not pinned; the step benchmark measures it as it runs.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # glibc's largest (64-bit): blocks up to 32 MiB come from the heap
TRIM_THRESHOLD = (1 << 31) - 1  # mallopt takes an int: about 2 GiB of free heap kept before trimming


def pin() -> dict | None:
    """Fix glibc's mmap and trim thresholds for this process; what was set, or None where the C
    library has no mallopt (not glibc) or refused."""
    if platform.system() != "Linux":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return None
    return {"mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}
