"""Where an architecture's accuracy comes from: a benchmark table or a learned predictor.

Search, predict and eval see accuracy only through ``AccuracyOracle`` so that new spaces and
predictors plug in without touching them. Accuracies are fractions (0.9437), not percent.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

import numpy as np

from hwdiff.data.nb201 import DATASETS, AccuracyMetric, nb201_benchmark
from hwdiff.errors import HwdiffError


class AccuracyOracle(Protocol):
    space: str
    dataset: str
    source: str  # "table" or "predictor"
    metric: str  # human-readable name of what the number is

    def predict(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Accuracy (fraction) of each canonical arch, and its standard deviation when predicted."""

    def value_range(self) -> tuple[float, float]:
        """The lowest and highest accuracy this oracle can report (fractions)."""


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


_ORACLES: dict[str, Callable[[str], AccuracyOracle]] = {"nb201": NB201TableAccuracy}
_DATASETS: dict[str, Sequence[str]] = {"nb201": DATASETS}


def register_accuracy_oracle(space: str, factory: Callable[[str], AccuracyOracle], datasets: Sequence[str]) -> None:
    """Make ``get_accuracy_oracle(space, dataset)`` return ``factory(dataset)``."""
    _ORACLES[space] = factory
    _DATASETS[space] = tuple(datasets)


def get_accuracy_oracle(space: str, dataset: str) -> AccuracyOracle:
    if space not in _ORACLES:
        raise HwdiffError(f"no accuracy data for space {space!r}; spaces with accuracy: {', '.join(_ORACLES)}")
    if dataset not in _DATASETS[space]:
        raise HwdiffError(f"unknown dataset {dataset!r} for space {space!r}; accepted: {', '.join(_DATASETS[space])}")
    return _ORACLES[space](dataset)


def structural_equivalence(space: str) -> Callable[[str], Hashable] | None:
    """A key that is equal for architectures computing the same function, where the data knows it."""
    if space == "nb201":
        from hwdiff.data.nb201 import nb201_equivalence

        return nb201_equivalence()
    return None
