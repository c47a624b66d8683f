"""Held-out quality of a regression: rank agreement (Kendall tau-b, Spearman), R^2, MAE, MAPE.

Used to validate the effnet accuracy predictor and the fitted (model-kind) latency profiles. Plain
numpy, so no scipy is needed; ties are handled (tau-b in ``hwdiff.metrics``, average ranks).
"""

from __future__ import annotations

import numpy as np

from hwdiff.metrics import kendall_tau, mape, share_within


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (first + (counts - 1) / 2.0)[inverse]


def spearman_rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_ranks(np.asarray(a)), _ranks(np.asarray(b)))[0, 1])


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Kendall tau, Spearman rho, R^2, MAE and MAPE (percent) of ``pred`` against ``y``."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return {
        "kendall_tau": float(kendall_tau(y, pred)),
        "spearman": spearman_rho(y, pred),
        "r2": r2_score(y, pred),
        "mae": float(np.abs(pred - y).mean()),
        "mape": mape(y, pred),
        "within_10pct": share_within(y, pred, 0.10),
    }


def kfold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """``folds`` disjoint test-index sets covering ``range(n)`` (a seeded shuffle, then equal splits)."""
    return [np.sort(f) for f in np.array_split(np.random.default_rng(seed).permutation(n), folds)]
