"""The errors of the report package: bad spec keys, missing run folders, unknown layers.

They derive from normbench's InputError so a command line prints them as one line, and
each message names the thing that is wrong and what is allowed.
"""

from normbench.errors import InputError


class ReportError(InputError):
    """A report cannot be made as asked: no runs, a bad spec, a key no run has."""
