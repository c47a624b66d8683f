"""Conditions of the generator: accuracy and latency values, normalised, each with a present-flag.

Accuracy is a fraction; latency is in milliseconds and conditioned in log space. The scales are
fitted on the training set and stored with the model, so any ``--acc`` / ``--latency`` target
maps to the same input the model was trained on: no retraining per threshold.

Two scales: ``zscore`` ((x - mean) / std) and ``quantile`` (x -> the normal score of its rank among
the training values, linear beyond them). Benchmark accuracies have a long tail of broken networks
(10 % on CIFAR-10) that inflates the standard deviation until the interesting top few points of
accuracy collapse into a sliver of the z-score range; ranks spread them out.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from statistics import NormalDist

import numpy as np

from hwdiff.errors import HwdiffError

CONDITIONS = ("accuracy", "latency")
CLIP = 4.0  # normalised values are clipped to +-CLIP
QUANTILE_KNOTS = 201


@dataclass(frozen=True)
class ConditionScale:
    name: str
    log: bool
    mean: float
    std: float
    method: str = "zscore"
    knots: tuple[float, ...] = field(default=())  # quantile method: x at evenly spaced ranks

    @classmethod
    def fit(cls, name: str, values: np.ndarray, log: bool, method: str = "zscore") -> ConditionScale:
        x = np.log(values) if log else np.asarray(values, dtype=float)
        knots = tuple(float(v) for v in np.quantile(x, np.linspace(0, 1, QUANTILE_KNOTS))) \
            if method == "quantile" else ()
        return cls(name, log, float(x.mean()), float(x.std() or 1.0), method, knots)

    def normalize(self, values: np.ndarray | float) -> np.ndarray:
        x = np.log(values) if self.log else np.asarray(values, dtype=float)
        if self.method == "zscore":
            return np.clip((x - self.mean) / self.std, -CLIP, CLIP)
        knots = np.asarray(self.knots)
        ranks = np.linspace(0, 1, len(knots))
        edge = 0.5 / len(knots)  # keep the end knots off the infinite tails of the normal
        scores = np.array([NormalDist().inv_cdf(float(r)) for r in np.clip(ranks, edge, 1 - edge)])
        unique, first = np.unique(knots, return_index=True)  # ties: one score per distinct value
        last = len(knots) - 1 - np.unique(knots[::-1], return_index=True)[1]
        mid = (scores[first] + scores[last]) / 2
        z = np.interp(x, unique, mid)
        z = np.where(x > unique[-1], mid[-1] + (x - unique[-1]) / self.std, z)
        z = np.where(x < unique[0], mid[0] + (x - unique[0]) / self.std, z)
        return np.clip(z, -CLIP, CLIP)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["knots"] = list(self.knots)
        return doc


_LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3}


def parse_latency(text: str) -> float:
    """``10ms``, ``0.01s``, ``800us`` (a bare number means ms) -> milliseconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us|µs)?\s*", str(text))
    if not m:
        raise HwdiffError(f"latency {text!r} is not understood; write a positive number with a unit, "
                          "e.g. 10ms, 0.01s or 800us")
    value = float(m.group(1)) * _LATENCY_UNITS[m.group(2) or "ms"]
    if not math.isfinite(value) or value <= 0:
        raise HwdiffError(f"latency {text!r} must be positive, e.g. 10ms, 0.01s or 800us")
    return value


def parse_accuracy(text: str) -> float:
    """``0.93`` or ``93%`` -> 0.93."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", str(text))
    if not m:
        raise HwdiffError(f"accuracy {text!r} is not understood; write a fraction like 0.93 or a percentage like 93%")
    value = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    if m.group(2) and value > 1:
        raise HwdiffError(f"accuracy {text!r} is above 100%; write e.g. 93% or 0.93")
    if value > 1:
        raise HwdiffError(f"accuracy {text!r} is above 1; write a fraction like 0.93 or a percentage like 93%")
    if value <= 0:
        raise HwdiffError(f"accuracy {text!r} must be positive, e.g. 0.93 or 93%")
    return value
