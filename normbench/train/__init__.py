"""The shared training loop: task, optimizer, schedule, precision, checkpoint/resume, divergence guard."""

import normbench.config  # noqa: F401  registers the schema nodes configs/*.yaml extend, before Hydra composes
from normbench.errors import CheckpointError, OptimConfigError, TrainerConfigError


def __getattr__(name: str):
    # train on first use: normbench.config imports the task modules of this package to register
    # their schemas, which must not pull in the loop (and with it every other package) half-imported
    if name == "train":
        from normbench.train.loop import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["train", "CheckpointError", "OptimConfigError", "TrainerConfigError"]
