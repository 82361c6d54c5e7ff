"""Keep Python's cyclic garbage collector off the objects that live for the whole run.

Why: a training step makes hundreds of tensors and autograd objects, so the collector runs
every few steps, and each full collection walks every object alive (the model, the data,
the configs, timm, Hydra), none of which can be garbage while the run trains. gc.freeze()
moves them to a permanent generation the collector skips: about 6 % of the default ViT's
CPU step (results/perf/README.md). Objects made later are collected as before; at the end
the frozen ones go back to the collector, so a process that runs many trainings (a sweep,
the tests) frees each one's garbage.
"""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def frozen_heap():
    """Freeze what is alive now for the duration; a no-op inside an outer frozen_heap()."""
    if gc.get_freeze_count():  # someone else froze the heap: theirs to undo
        yield
        return
    gc.freeze()  # no collect first: what is garbage now is freed at unfreeze
    try:
        yield
    finally:
        gc.unfreeze()
