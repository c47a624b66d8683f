"""What is known about architectures: shipped benchmark tables (and, later, predictors)."""

from hwdiff.data.nb201 import AccuracyMetric, NB201Benchmark, nb201_benchmark

__all__ = ["AccuracyMetric", "NB201Benchmark", "nb201_benchmark"]
