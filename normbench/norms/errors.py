"""The one error type of the norm library.

A bad norm config must fail before a model is built, with a message that names
the Hydra key (``norm.<key>``), the bad value and what is allowed, so a sweep
that crosses norms with DyT's keys says at once which override is wrong.
"""


from normbench.errors import InputError


class NormConfigError(InputError):
    """A norm name, layout or option that cannot be built."""
