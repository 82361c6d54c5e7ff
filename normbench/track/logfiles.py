"""One log record for the run's log file only, or for everything but it.

The job's log file (a run folder's train.log) is Hydra's FileHandler on the root logger. A sweep
job's error goes there only (the console prints it once, elsewhere: train.py); a run a re-run
sweep leaves alone says so everywhere but there (a study commits train.log: normbench/train/loop.py).
"""

from __future__ import annotations

import logging
from typing import Any


def log_split(logger: logging.Logger, level: int, msg: str, *args: Any, files: bool, exc_info=None) -> None:
    """Hand one record to the root logger's file handlers (files=True) or to every other one (False)."""
    if not logger.isEnabledFor(level):
        return
    record = logger.makeRecord(logger.name, level, "", 0, msg, args, exc_info)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) == files and record.levelno >= handler.level:
            handler.handle(record)
