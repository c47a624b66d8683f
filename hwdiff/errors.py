"""Errors a user can fix.

The CLI prints a ``HwdiffError`` as one line and exits non-zero; anything else is a bug.
"""


class HwdiffError(Exception):
    """Bad input or an unusable file, described in one line that says what would be accepted."""


class InvalidArchError(HwdiffError, ValueError):
    """An architecture string that does not belong to the search space."""
