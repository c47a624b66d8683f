"""Errors a user can fix.

The CLI prints a ``HwdiffError`` as one line and exits non-zero; anything else is a bug.
"""

from __future__ import annotations


class HwdiffError(Exception):
    """Bad input or an unusable file, described in one line that says what would be accepted."""


class InvalidArchError(HwdiffError, ValueError):
    """An architecture string that does not belong to the search space."""


SEED_LIMIT = 2**32  # numpy takes seeds 0 <= s < 2**32, so every seed hwdiff takes is in that range


def check_range(option: str, value: int | None, low: int, high: int | None = None, why: str = "") -> None:
    """Refuse ``value`` outside ``low..high`` in one line naming ``option``, the range and ``why`` the upper
    bound is what it is (``None``: not given, nothing to check); checked before any work starts."""
    if value is None or (value >= low and (high is None or value <= high)):
        return
    least = "0 or more" if low == 0 else f"a positive number (at least {low})" if low == 1 else f"at least {low}"
    most = "" if high is None else f" and at most {high:,}{why}"
    raise HwdiffError(f"{option} must be {least}{most}, got {value}")


def check_seed(option: str, value: int | None) -> None:
    """Seeds are 0 <= s < 2**32: numpy refuses others with a traceback deep inside a run."""
    check_range(option, value, 0, SEED_LIMIT - 1, " (seeds are 0 <= s < 2**32)")
