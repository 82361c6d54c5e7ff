"""The shared training loop: task, optimizer, schedule, precision, checkpoint/resume, divergence guard."""

import normbench.config  # noqa: F401  registers the schema nodes configs/*.yaml extend, before Hydra composes
from normbench.errors import CheckpointError, OptimConfigError, TrainerConfigError
from normbench.train.loop import train

__all__ = ["train", "CheckpointError", "OptimConfigError", "TrainerConfigError"]
