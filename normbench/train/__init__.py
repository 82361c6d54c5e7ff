"""The shared training loop: task, optimizer, schedule, precision, checkpoint/resume, divergence guard."""

from normbench.train.checkpoint import CheckpointError
from normbench.train.loop import train
from normbench.train.optim import OptimConfigError
from normbench.train.runtime import TrainerConfigError

__all__ = ["train", "CheckpointError", "OptimConfigError", "TrainerConfigError"]
