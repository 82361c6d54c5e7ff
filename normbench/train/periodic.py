"""The loop's one seam for periodic actions (log, evaluate, probe, checkpoint).

A feature that must run every k steps adds a Periodic to Trainer.actions instead of one more
inline `if step % k` in the loop. Actions run in list order after the step; those not
`training` (evaluation, probes, checkpoints) are left out of the train time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Periodic:
    name: str
    every: int
    run: Callable[[], None]
    at_end: bool = True  # also after the last step
    at_start: bool = False  # also before the first step of a fresh run (step 0: the model at init)
    training: bool = False  # counts as train time (the train-loss log, whose sync ends a timing window)

    def due(self, step: int, last: bool) -> bool:
        return step % self.every == 0 or (last and self.at_end)
