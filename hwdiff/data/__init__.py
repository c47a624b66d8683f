"""What is known about architectures: shipped benchmark tables and accuracy oracles."""

from hwdiff.data import effnet_predictor as _effnet_predictor  # noqa: F401  (registers the effnet oracle)
from hwdiff.data.nb201 import AccuracyMetric, NB201Benchmark, nb201_benchmark
from hwdiff.data.oracle import AccuracyOracle, get_accuracy_oracle, register_accuracy_oracle

__all__ = ["AccuracyMetric", "AccuracyOracle", "NB201Benchmark", "get_accuracy_oracle", "nb201_benchmark",
           "register_accuracy_oracle"]
