"""Blocked, interleaved timing: the one clock of normbench.bench.

Why blocked: one call of a norm layer lasts microseconds to milliseconds, close to the
clock's and Python's noise; a block of calls sized to last ~block_s is timed as a whole.
Why interleaved: a machine's speed drifts (other jobs, turbo, thermal); running the
candidates' blocks in turn, in a fresh (seeded) shuffled order each repeat, spreads that drift
over all of them instead of charging it to whichever ran last. Shuffled, not rotated: a rotation
keeps who runs after whom, and on CPU the block before sets the heap a candidate's fresh outputs
land in (the same fused DyT forward+backward at 8192 x 384 ran 0.3 ms, ~10 %, slower in every
block that followed its forward-only block than elsewhere; results/perf/README.md). The result per
candidate is a list of per-call times, one per block; report its median.
"""

from __future__ import annotations

import gc
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    per_call_s: list[float]  # one per block
    calls_per_block: int

    @property
    def median(self) -> float:
        return statistics.median(self.per_call_s)

    def quantile(self, q: float) -> float:
        return quantile(self.per_call_s, q)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of values, linear between order statistics (numpy's default)."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _noop() -> None:
    pass


def time_interleaved(fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int = 3,
                     block_s: float = 0.05, sync: Callable[[], None] = _noop, seed: int = 0) -> dict[str, Timing]:
    """Per candidate: `warmup` calls, then `repeats` blocks of calls, the candidates in turn,
    in an order shuffled afresh each repeat (random.Random(seed): the same run orders alike).

    The calls per block are set from the warm-up so that a block lasts about block_s
    (at least one call). sync() must wait for queued device work (CUDA); a no-op on CPU.
    """
    calls = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        one = time.perf_counter() - t0
        calls[name] = max(1, int(block_s / max(one, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names, rng = list(fns), random.Random(seed)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one block would charge that block alone
    try:
        for _ in range(repeats):
            rng.shuffle(names)
            for name in names:
                fn, n = fns[name], calls[name]
                sync()
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                sync()
                samples[name].append((time.perf_counter() - t0) / n)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(samples[name], calls[name]) for name in fns}


def median_ci(xs: list[float], level: float = 0.9) -> tuple[float, float] | None:
    """A distribution-free interval for the median of xs: order statistics x_(k) and x_(n+1-k),
    k the largest with P(Binomial(n, 1/2) < k) <= (1 - level) / 2, so the interval covers the
    median with at least `level`. None when n is too small for that level (n < 5 at 90 %)."""
    xs, n = sorted(xs), len(xs)
    tail, k, cdf = (1 - level) / 2, 0, 0.0
    while k < n:
        cdf_next = cdf + math.comb(n, k) / 2 ** n  # P(Binomial(n, 1/2) <= k)
        if cdf_next > tail:
            break
        cdf, k = cdf_next, k + 1
    if k == 0:
        return None
    return xs[k - 1], xs[n - k]
