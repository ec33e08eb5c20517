"""User-facing errors.

A :class:`RobustuneError` is a mistake in what the user asked for (a bad file, an unknown method, a
missing column). The CLI prints its message and exits with status 2, without a traceback; anything
else is a bug and keeps its traceback.
"""


class RobustuneError(Exception):
    """A problem with the user's input, explained in the message."""


class DataError(RobustuneError):
    """A data source that cannot be read or validated; the message names the file and row."""
