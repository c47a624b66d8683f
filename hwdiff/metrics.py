"""How well predictions match measurements: rank agreement and relative errors (numpy only).

One home for the figures every prediction in hwdiff reports (lut profiles' validation, fitted
latency models, the accuracy predictor, few-shot profiles): Kendall's tau-b, Spearman's rho, MAPE and
the share within a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def kendall_tau(x: Sequence[float], y: Sequence[float], chunk: int = 1024) -> float:
    """Kendall's tau-b over all pairs (ties count as neither concordant nor discordant); NaN when undefined.

    O(n^2) in chunks of ``chunk`` rows: fine for the few thousand values here, and no scipy needed.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError("kendall_tau needs two sequences of the same length")
    concordant = pairs_x = pairs_y = 0.0
    n = len(x)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        dx = np.sign(x[start:stop, None] - x[None, :])
        dy = np.sign(y[start:stop, None] - y[None, :])
        upper = np.arange(start, stop)[:, None] < np.arange(n)[None, :]  # each pair once
        concordant += float((dx * dy)[upper].sum())
        pairs_x += float(np.count_nonzero(dx[upper]))
        pairs_y += float(np.count_nonzero(dy[upper]))
    denominator = math.sqrt(pairs_x * pairs_y)
    return concordant / denominator if denominator else math.nan


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their mean rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the correlation of the ranks (mean ranks for ties); NaN when undefined."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of the same length")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / denominator if denominator else math.nan


def relative_errors(measured: Sequence[float], predicted: Sequence[float]) -> np.ndarray:
    """``|predicted - measured| / measured`` per item (fractions)."""
    y, p = np.asarray(measured, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    return np.abs(p - y) / y


def mape(measured: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    return float(relative_errors(measured, predicted).mean() * 100)


def share_within(measured: Sequence[float], predicted: Sequence[float], tolerance: float) -> float:
    """The share (0..1) of predictions within ``tolerance`` (a fraction, 0.10 = +-10 %) of the measurement."""
    return float(np.mean(relative_errors(measured, predicted) <= tolerance))


def validation_metrics(predicted_ms: Sequence[float], measured_ms: Sequence[float]) -> dict[str, float]:
    """Relative errors of predictions against measurements (errors in percent, shares as fractions)."""
    rel = relative_errors(measured_ms, predicted_ms)
    tau = kendall_tau(predicted_ms, measured_ms)
    return {
        "mape": float(rel.mean() * 100),
        "within_10pct": float(np.mean(rel <= 0.10)),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "kendall_tau": None if math.isnan(tau) else tau,
        "median_abs_error_pct": float(np.median(rel) * 100),
        "max_abs_error_pct": float(rel.max() * 100),
    }
