"""What is known about architectures: shipped benchmark tables and accuracy oracles."""

from hwdiff.data.nb201 import AccuracyMetric, NB201Benchmark, nb201_benchmark
from hwdiff.data.oracle import AccuracyOracle

__all__ = ["AccuracyMetric", "AccuracyOracle", "NB201Benchmark", "nb201_benchmark"]
