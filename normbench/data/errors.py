"""The one error type of the data package.

A missing or broken data set is a configuration problem the user can fix, so it
is an ``InputError`` whose message says what was looked for and how to get it;
train.py catches it and prints the message without a traceback.
"""


from normbench.errors import InputError


class DataError(InputError):
    """A data set is unknown, missing, corrupt, or its options are invalid."""
