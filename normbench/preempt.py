"""Preemption: SIGTERM (what SLURM sends before it kills a job) and Ctrl-C (SIGINT) stop a run
at the next step boundary instead of killing it mid-step.

Why: a killed run loses up to trainer.ckpt_every steps and leaves summary.json at "running".
With these handlers the loop finishes the step it is in, writes a checkpoint, records status
"interrupted" and the process exits with 128 + the signal number (143 for SIGTERM, 130 for
SIGINT): the shell's code for "killed by that signal", never 0, so SLURM, submitit and Hydra
do not count the job as done, and a requeued job (SLURM's preemption requeue, `sbatch
--requeue`, submitit's requeue) or a re-run with `trainer.resume=true` continues it exactly.

A second Ctrl-C stops at once (a user who presses it twice means it); any other repeat is
ignored (SLURM, a launcher and a parent sweep may each send one; a terminal's Ctrl-C reaches a
sweep and its job, and the sweep passes it on as SIGTERM). normbench.study.runner uses the
same convention for sweep.py. Handlers are installed only in the main thread (Python allows
no other) and the previous ones are restored afterwards.

Under Hydra's submitit launchers (submitit_slurm, submitit_local) submitit requeues a job on
its own signal (USR2, or $SUBMITIT_PREEMPT_SIGNAL), sent `signal_delay_s` before the time limit
and, where the cluster allows, at a preemption. Its handler would requeue in the middle of a
step, losing the steps since the last checkpoint; so while a run trains that signal stops it
at the step boundary like SIGTERM, and `requeue_with_submitit()` then hands it to submitit's
handler, which requeues the job (the launcher resubmits it with the same overrides; with
trainer.resume=true it continues exactly) and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def submitit_signal() -> signal.Signals | None:
    """The signal on which submitit requeues this job, when submitit's handler for it is
    installed in this process (a job of a submitit launcher); None everywhere else."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2").upper().removeprefix("SIG")
    sig = getattr(signal, f"SIG{name}", None)
    if sig is None or sig in SIGNALS:
        return None
    return sig if _is_submitits(signal.getsignal(sig)) else None


def _is_submitits(handler: Any) -> bool:
    return callable(handler) and str(getattr(handler, "__module__", "")).startswith("submitit.")


def requeue_with_submitit(signal_name: str) -> None:
    """After a run stopped on submitit's requeue signal (and its handlers are restored): run
    submitit's handler, which resubmits the job and exits (SystemExit). Returns when the signal
    was another one or submitit's handler is not there."""
    sig = getattr(signal, signal_name, None)
    handler = signal.getsignal(sig) if sig is not None else None
    if sig not in SIGNALS and _is_submitits(handler):
        log.warning("handing %s on to submitit: requeueing this job", signal_name)
        handler(sig, None)


def exit_code(signum: int) -> int:
    """The exit code of a run stopped by `signum`: 128 + signum, as a shell reports it."""
    return 128 + int(signum)


class StopRequest:
    """Set by SIGTERM/SIGINT (and submitit's requeue signal in a submitit job) while active; the
    loop reads `signum` at each step boundary."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def record(self) -> dict[str, Any] | None:
        """What summary.json keeps about the stop: the signal and the exit code."""
        if self.signum is None:
            return None
        return {"signal": signal.Signals(self.signum).name, "exit_code": exit_code(self.signum)}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            then = "" if signum in SIGNALS else ", then submitit requeues the job"
            log.warning("%s received: stopping at the end of this step with a checkpoint%s "
                        "(Ctrl-C again to stop at once)", signal.Signals(signum).name, then)
        elif signum == signal.SIGINT == self.signum:
            raise KeyboardInterrupt
        else:
            log.warning("%s received again; already stopping", signal.Signals(signum).name)

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            requeue = submitit_signal()
            for sig in (*SIGNALS, requeue) if requeue else SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
