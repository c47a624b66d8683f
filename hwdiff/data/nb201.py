"""What is known about every NAS-Bench-201 cell: accuracies after 200 and 12 epochs.

Shipped as ``tables/nb201.npz`` (numpy arrays in NB201 index order, loaded with
``allow_pickle=False``); provenance in ``tables/README.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwdiff.data.shipped import read_npz
from hwdiff.errors import HwdiffError
from hwdiff.spaces import get_space

TABLE_PATH = Path(__file__).resolve().parent / "tables" / "nb201.npz"
ARCH_CHECKSUM_KEY = "arch_sha256"

# (epochs, split) pairs in the shipped table, and what each one is.
METRICS: dict[tuple[int, str], str] = {
    (200, "test"): "test accuracy after 200 epochs (trained on train+valid, mean over seeds)",
    (12, "valid"): "validation accuracy after 12 epochs (trained on train; the cheap search signal)",
    (12, "test"): "test accuracy after 12 epochs (trained on train)",
}
DATASETS = ("cifar10", "cifar100", "imagenet16")
OPTIMA_200 = {"cifar10": 94.37, "cifar100": 73.51, "imagenet16": 47.31}


@dataclass(frozen=True)
class AccuracyMetric:
    dataset: str
    epochs: int = 200
    split: str = "test"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise HwdiffError(f"unknown dataset {self.dataset!r} for nb201; accepted: {', '.join(DATASETS)}")
        if (self.epochs, self.split) not in METRICS:
            accepted = ", ".join(f"{s}@{e}" for e, s in METRICS)
            raise HwdiffError(f"no nb201 metric {self.split}@{self.epochs}; accepted: {accepted}")

    @property
    def key(self) -> str:
        return f"{self.split}{self.epochs}_{self.dataset}"

    @property
    def label(self) -> str:
        return f"nb201 {self.dataset} {self.split} accuracy, {self.epochs} epochs"


class NB201Benchmark:
    """Accuracies (percent, as NAS-Bench-201 gives them) of every cell."""

    def __init__(self, path: Path = TABLE_PATH):
        self._arrays = read_npz(path, "NB201 table")
        self.space = get_space("nb201")
        if str(self._arrays.get(ARCH_CHECKSUM_KEY)) != self.space.order_checksum:
            raise HwdiffError(f"the shipped NB201 table {path} was made in another cell order; reinstall hwdiff")

    @property
    def checksum(self) -> str:
        return str(self._arrays[ARCH_CHECKSUM_KEY])

    def accuracies(self, metric: AccuracyMetric) -> np.ndarray:
        """Accuracy of all 15,625 cells in NB201 index order (a read-only view)."""
        values = self._arrays[metric.key]
        values.setflags(write=False)
        return values

    def accuracy(self, archs: str | Sequence[str], metric: AccuracyMetric) -> float | np.ndarray:
        """Accuracy of one cell (a float) or of several (an array), in percent."""
        if isinstance(archs, str):
            return float(self.accuracies(metric)[self.space.index(archs)])
        return self.accuracies(metric)[self.space.indices(list(archs))]

    def isomorphism_classes(self) -> np.ndarray:
        """Class id per cell: cells that compute the same function share it (NATS-Bench)."""
        return self._arrays["isomorphism_class"]


@functools.lru_cache(maxsize=1)
def nb201_benchmark() -> NB201Benchmark:
    return NB201Benchmark()


def nb201_equivalence() -> Callable[[str], int]:
    """arch -> its isomorphism class: a search need not pay twice for cells that compute the same thing."""
    bench = nb201_benchmark()
    classes = bench.isomorphism_classes()
    return lambda arch: int(classes[bench.space.index(arch)])
