"""A latency budget met with a stated confidence: how far below the budget a search aims.

A profile that is not a measured table predicts with an error it states (``Profile.log_error_sd``:
the spread ``s`` of ``log(measured / predicted)`` for a network it did not measure). A search that
takes every network predicted within the budget ``B`` returns, near the budget's edge, networks that
are over it on the device about half the time. Aiming at

    bound = B * exp(-z_c * s),    z_c = Phi^-1(c)

instead makes a network predicted at the bound meet ``B`` with probability ``c`` under a log-normal
error; the generator is conditioned on the bound and the candidates are filtered by it. The bound
never goes below the fastest network the profile predicts (then the confidence reached is lower, and
said). A measured table (``s = 0``) is searched at its budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

from hwdiff.errors import HwdiffError
from hwdiff.search.constraints import Constraints

DEFAULT_CONFIDENCE = 0.9


def check_confidence(confidence: float | None) -> None:
    if confidence is not None and not (isinstance(confidence, (int, float)) and 0.5 <= confidence < 1):
        raise HwdiffError(f"--confidence {confidence!r}: give a probability from 0.5 (aim at the budget itself) "
                          "to below 1, e.g. 0.9")


@dataclass(frozen=True)
class LatencyMargin:
    """The bound a search aimed at so that its networks meet ``budget_ms`` with ``confidence``."""

    budget_ms: float
    bound_ms: float
    confidence: float  # reached: below the one asked for where the bound hit the fastest network
    log_sd: float  # the profile's stated spread of log(measured / predicted)

    def to_json(self) -> dict:
        return {"budget_ms": self.budget_ms, "bound_ms": self.bound_ms, "confidence": self.confidence,
                "log_sd": self.log_sd}


def latency_margin(budget_ms: float, confidence: float, log_sd: float, fastest_ms: float) -> LatencyMargin | None:
    """The bound for ``budget_ms`` at ``confidence`` under a spread ``log_sd``; ``None`` when there is none to keep
    (no spread, or a confidence of 0.5), or when even the fastest network is over the budget."""
    check_confidence(confidence)
    if log_sd <= 0 or confidence <= 0.5 or fastest_ms > budget_ms:
        return None
    bound = max(budget_ms * math.exp(-NormalDist().inv_cdf(confidence) * log_sd), fastest_ms)
    reached = NormalDist().cdf(math.log(budget_ms / bound) / log_sd)
    return LatencyMargin(budget_ms, bound, reached, log_sd)


def aimed_constraints(constraints: Constraints, confidence: float | None, log_sd: float,
                      fastest_ms: float) -> tuple[Constraints, LatencyMargin | None]:
    """The constraints a search runs with (the latency bound lowered by the margin), and the margin."""
    if constraints.latency_ms is None or confidence is None:
        return constraints, None
    margin = latency_margin(constraints.latency_ms, confidence, log_sd, fastest_ms)
    if margin is None:
        return constraints, None
    return replace(constraints, latency_ms=margin.bound_ms), margin
