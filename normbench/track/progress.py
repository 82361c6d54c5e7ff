"""The console progress bar: steps, train loss, the task's throughput (images/s, tokens/s) and
its last metrics of each evaluated split (Task.progress_metrics: val and test acc1; loss and bpb)."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, initial: int = 0, enabled: bool = True):
        self.postfix: dict[str, str] = {}
        # Off when asked, and when stderr is not a terminal (SLURM logs, CI) to keep logs readable.
        self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=1.0,
                        disable=not enabled or not sys.stderr.isatty(), file=sys.stderr)

    def update(self, step: int, **shown: str) -> None:
        self.postfix.update(shown)
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        self.bar.close()
