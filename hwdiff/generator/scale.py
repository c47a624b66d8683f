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

from dataclasses import asdict, dataclass, field
from statistics import NormalDist

import numpy as np

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
