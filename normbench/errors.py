"""Every error about bad input, in one module: a config value, a norm that does not fit a
model, a missing data file, an unreadable checkpoint.

Why one module: train.py catches the base, InputError, to print the message as one line
without a traceback (and a sweep runs its other jobs); callers that want one kind catch
its subclass. Keeping the whole family here means a new kind of input gets its class
next to the others instead of in a seventh home. Every message names the key, the value
and what is allowed: "optim.lr = 'abc' is not allowed: must be a float".
The packages re-export their own class (normbench.norms.NormConfigError, ...).
"""


class InputError(ValueError):
    """Bad input the user can fix; raised before any training starts."""


class ConfigError(InputError):
    """A config value of the wrong type, or a key no schema has (normbench/config/schema.py)."""


class NormConfigError(InputError):
    """A `norm.*` value, or a build_norm name, layout or option that cannot be built."""


class ModelConfigError(InputError):
    """A `model.*` value, or a model/norm pairing that cannot be built."""


class NormFreeConfigError(InputError):
    """A `normfree.*` value, or a normalization-free method that does not fit the model or norm."""


class DataError(InputError):
    """A `data.*` value, or a data set that is unknown, missing or corrupt."""


class OptimConfigError(InputError):
    """An `optim.*` value."""


class TrainerConfigError(InputError):
    """A `trainer.*` or `task` value, or a run folder that already holds another run."""


class LoggerConfigError(InputError):
    """A `logger.*` value (logger.wandb.mode, ...)."""


class CheckpointError(InputError):
    """A checkpoint that is missing where trainer.resume points, or cannot be read."""


class JudgeError(InputError):
    """task=generate's judge classifier (`task.judge`) that is missing, unreadable or does not fit the data."""


class ReportError(InputError):
    """A report that cannot be made as asked: no run folders, a bad `report:` spec key, a key no run has."""


class StudyError(ConfigError):
    """A study config (configs/study/<name>.yaml, `study.*`) that cannot be run."""


class CheckoutError(InputError):
    """No configs/ of a normbench checkout where an entry point looked (normbench/checkout.py)."""


__all__ = [
    "InputError",
    "ConfigError",
    "NormConfigError",
    "ModelConfigError",
    "NormFreeConfigError",
    "DataError",
    "OptimConfigError",
    "TrainerConfigError",
    "LoggerConfigError",
    "CheckpointError",
    "JudgeError",
    "ReportError",
    "StudyError",
    "CheckoutError",
]
