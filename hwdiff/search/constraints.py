"""What a search asks for: an accuracy target and a latency budget, typed, parsed from the user's text.

``Constraints`` travels unchanged from ``SearchRequest`` to the sampler; ``ConditionTargets`` is what
the generator is conditioned on to meet them (see ``hwdiff.search.search.condition_targets``).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwdiff.errors import HwdiffError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Constraints:
    """Accuracy *at least* ``accuracy`` (fraction), latency *at most* ``latency_ms``; ``None``: no bound."""

    accuracy: float | None = None
    latency_ms: float | None = None

    def __post_init__(self) -> None:
        if self.accuracy is not None:
            check_accuracy(self.accuracy, repr(self.accuracy))
        if self.latency_ms is not None:
            check_latency(self.latency_ms, f"{self.latency_ms!r} ms")

    def met(self, accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
        import numpy as np  # here, so that parsing a command line loads no numpy

        ok = np.ones(len(accuracy), dtype=bool)
        if self.accuracy is not None:
            ok &= accuracy >= self.accuracy
        if self.latency_ms is not None:
            ok &= latency <= self.latency_ms
        return ok

    def to_json(self) -> dict:
        return {"acc": self.accuracy, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class ConditionTargets:
    """The values the generator is conditioned on, one rule for every search.

    ``accuracy``: the lower bound every sample gets (``None``: absent). ``latency_ms``: a ``(lo, hi)``
    range; each sample draws its own upper bound log-uniformly in it, and a point range
    (``lo == hi``) gives every sample that bound itself (``None``: absent).
    """

    accuracy: float | None = None
    latency_ms: tuple[float, float] | None = None

    def sampler_inputs(self, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy ``[samples]``, latency ``[samples]``) with NaN for an absent condition."""
        import numpy as np

        accuracy = np.full(samples, np.nan if self.accuracy is None else self.accuracy)
        if self.latency_ms is None:
            return accuracy, np.full(samples, np.nan)
        lo, hi = self.latency_ms
        if lo == hi:
            return accuracy, np.full(samples, lo)
        log_lo, log_hi = np.log([lo, hi])
        return accuracy, np.exp(np.random.default_rng(seed).uniform(log_lo, log_hi, samples))

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy,
                "latency_ms": None if self.latency_ms is None else list(self.latency_ms)}


_LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3}


def parse_latency(text: str) -> float:
    """``10ms``, ``0.01s``, ``800us`` (a bare number means ms) -> milliseconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us|µs)?\s*", str(text))
    if not m:
        raise HwdiffError(f"latency {text!r} is not understood; write a positive number with a unit, "
                          "e.g. 10ms, 0.01s or 800us")
    return check_latency(float(m.group(1)) * _LATENCY_UNITS[m.group(2) or "ms"], repr(text))


def check_latency(value: float, shown: str) -> float:
    """A latency bound in ms: a finite positive number (``shown``: how the user wrote it)."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise HwdiffError(f"latency {shown} must be positive, e.g. 10ms, 0.01s or 800us")
    return float(value)


def parse_accuracy(text: str) -> float:
    """``0.93`` or ``93%`` -> 0.93."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", str(text))
    if not m:
        raise HwdiffError(f"accuracy {text!r} is not understood; write a fraction like 0.93 or a percentage like 93%")
    value = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    if m.group(2) and value > 1:
        raise HwdiffError(f"accuracy {text!r} is above 100%; write e.g. 93% or 0.93")
    return check_accuracy(value, repr(text))


def check_accuracy(value: float, shown: str) -> float:
    """An accuracy bound: a fraction in (0, 1] (``shown``: how the user wrote it)."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise HwdiffError(f"accuracy {shown} must be positive, e.g. 0.93 or 93%")
    if value > 1:
        raise HwdiffError(f"accuracy {shown} is above 1; write a fraction like 0.93 or a percentage like 93%")
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
