"""The one error type for a bad `model` config, so callers (train.py, sweeps) can catch
config mistakes apart from bugs (an InputError, like normbench.norms.NormConfigError)."""


from normbench.errors import InputError


class ModelConfigError(InputError):
    """A `model` config (or its pairing with a `norm` config) that cannot be built."""
