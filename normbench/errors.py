"""The base of every error about bad input: a config value, a norm that does not fit a
model, a missing data file, an unreadable checkpoint.

Each package raises its own subclass with a message that names the key, the value and
what is allowed; train.py catches this base to print that message without a traceback.
"""


class InputError(ValueError):
    """Bad input the user can fix; raised before any training starts."""
