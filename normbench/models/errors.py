"""The one error type for a bad `model` config, so callers (train.py, sweeps) can catch
config mistakes apart from bugs. It is a ValueError, like normbench.norms.NormConfigError."""


class ModelConfigError(ValueError):
    """A `model` config (or its pairing with a `norm` config) that cannot be built."""
