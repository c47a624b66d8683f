"""Conditions of the generator: accuracy and latency values, normalised, each with a present-flag.

Accuracy is a fraction; latency is in milliseconds and conditioned in log space. The scales are
fitted on the training set and stored with the model, so any ``--acc`` / ``--latency`` target
maps to the same input the model was trained on: no retraining per threshold.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

from hwdiff.errors import HwdiffError

CONDITIONS = ("accuracy", "latency")
CLIP = 4.0  # normalised values are clipped to +-CLIP (a few broken cells sit far in the tail)


@dataclass(frozen=True)
class ConditionScale:
    name: str
    log: bool
    mean: float
    std: float

    @classmethod
    def fit(cls, name: str, values: np.ndarray, log: bool) -> ConditionScale:
        x = np.log(values) if log else np.asarray(values, dtype=float)
        return cls(name, log, float(x.mean()), float(x.std() or 1.0))

    def normalize(self, values: np.ndarray | float) -> np.ndarray:
        x = np.log(values) if self.log else np.asarray(values, dtype=float)
        return np.clip((x - self.mean) / self.std, -CLIP, CLIP)

    def to_json(self) -> dict:
        return asdict(self)


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
