"""The one error type of the data package.

A missing or broken data set is a configuration problem the user can fix, so it
is a ``ValueError`` whose message says what was looked for and how to get it;
callers (train.py) catch ``DataError`` and print the message without a traceback.
"""


class DataError(ValueError):
    """A data set is unknown, missing, corrupt, or its options are invalid."""
