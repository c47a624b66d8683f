"""Where an architecture's accuracy comes from: a benchmark table or a learned predictor.

Search, predict and eval see accuracy only through ``AccuracyOracle`` so that new spaces and
predictors plug in without touching them: a space names its own (``SearchSpace.accuracy_oracle``).
Accuracies are fractions (0.9437), not percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from hwdiff.data.nb201 import AccuracyMetric, nb201_benchmark


class AccuracyOracle(Protocol):
    space: str
    dataset: str
    source: str  # "table" or "predictor"
    metric: str  # human-readable name of what the number is

    def predict(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Accuracy (fraction) of each canonical arch, and its standard deviation when predicted."""

    def value_range(self) -> tuple[float, float]:
        """The lowest and highest accuracy this oracle can report (fractions)."""

    def scale_note(self) -> str | None:
        """Where the metric's scale sits against a well-known network, when it is not the usual one (or None)."""


class NB201TableAccuracy:
    """NAS-Bench-201 accuracies looked up in the shipped table."""

    space = "nb201"
    source = "table"

    def __init__(self, dataset: str, epochs: int = 200, split: str = "test"):
        self._metric = AccuracyMetric(dataset, epochs, split)
        self.dataset = dataset
        self.metric = self._metric.label
        self._values = nb201_benchmark().accuracies(self._metric) / 100.0

    def predict(self, archs: Sequence[str]) -> tuple[np.ndarray, None]:
        from hwdiff.spaces import get_space

        return self._values[get_space("nb201").indices(list(archs))], None

    def all_values(self) -> np.ndarray:
        """Accuracy of every cell in index order (tables only)."""
        return self._values

    def value_range(self) -> tuple[float, float]:
        return float(self._values.min()), float(self._values.max())

    def scale_note(self) -> None:
        """The table's own figures are the scale (the metric says which epoch count and split)."""
        return None
