"""Lookup-table (``lut``) profiles: per-layer latencies, summed per network, calibrated, validated.

A network's raw estimate is ``sum(count_k * ms_k)`` over the layers ``SearchSpace.lut_usage`` lists.
Layers timed alone miss what happens between them (framework overhead per call, caches, fusions),
so the profile carries an affine calibration ``predicted = scale * sum + offset`` fitted on whole
networks measured on the same device, and the error of that prediction on *other* measured
networks (``validation``): MAPE, share within +-10 %, Kendall tau.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import MAX_LATENCY_MS, Profile, register_profile_kind
from hwdiff.spaces import get_space

# Whole networks are never a thousand times slower than their layers timed alone: a larger scale is a corrupt file.
MAX_CALIBRATION_SCALE = 1e3


def fit_calibration(lut_ms: Sequence[float], measured_ms: Sequence[float]) -> tuple[float, float]:
    """``(scale, offset_ms)`` minimising the squared *relative* error of ``scale * lut + offset``.

    Relative, because the targets are relative (MAPE, +-10 %): an absolute fit would let the slowest
    networks dominate. Falls back to a pure scale when the sums do not vary, or when the line would
    predict a non-positive latency for networks down to half the smallest fitted sum (a fit that
    noise has bent; no device behaves like that).
    """
    x, y = np.asarray(lut_ms, dtype=float), np.asarray(measured_ms, dtype=float)
    if len(x) < 1 or len(x) != len(y) or np.any(y <= 0) or np.any(x <= 0):
        raise ValueError("calibration needs positive LUT sums and measurements, one of each per network")
    ratio = float(np.median(y / x))
    if len(x) < 2 or np.ptp(x) <= 1e-9 * np.max(x):
        return ratio, 0.0
    design = np.column_stack([x, np.ones_like(x)]) / y[:, None]
    (scale, offset), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if scale <= 0 or scale * x.min() / 2 + offset <= 0:
        return ratio, 0.0
    return float(scale), float(offset)


@register_profile_kind("lut")
class LutProfile(Profile):
    """Per-layer latencies of a space's networks on one device/backend, with calibration."""

    kind = "lut"

    def __init__(self, *, layers: list[dict[str, Any]], calibration: dict[str, Any],
                 networks: list[dict[str, Any]] | None = None, context: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.layers = layers
        self.calibration = calibration
        self.networks = networks or []
        self.context = context  # the table holds the space's context entries (a graph-compiling backend)
        self._ms = {layer["key"]: float(layer["ms"]) for layer in layers}
        self._sums: dict[str, float] = {}  # search asks for the same archs again and again

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def summary(self) -> str:
        p = self.provenance
        return (f"measured by hwdiff profile: {p.get('backend', '?')} {p.get('precision', '?')} "
                f"b{p.get('batch_size', '?')}, {p.get('threads', '?')} thread(s)")

    def layer_sums(self, archs: Sequence[str]) -> np.ndarray:
        """Uncalibrated estimate: each arch's per-layer latencies, summed (ms)."""
        return np.array([self._sum(arch) for arch in archs], dtype=float)

    def _sum(self, arch: str) -> float:
        cached = self._sums.get(arch)
        if cached is None:
            usage = get_space(self.space).lut_usage(arch, self.dataset, context=self.context)
            missing = [key for key in usage if key not in self._ms]
            if missing:
                raise HwdiffError(f"profile {self.name} has no latency for layer(s) {', '.join(missing)} that "
                                  f"{arch} uses; it was measured for another version of the space: measure again")
            cached = self._sums[arch] = sum(self._ms[key] * count for key, count in usage.items())
        return cached

    def predict(self, archs: Sequence[str]) -> np.ndarray:
        c = self.calibration
        sums = self.layer_sums(archs)
        # fit_calibration keeps the line positive down to half the fitted sums; below that, stay proportional.
        return np.maximum(float(c["scale"]) * sums + float(c["offset_ms"]), 0.1 * float(c["scale"]) * sums)

    def _payload(self) -> dict[str, Any]:
        return {"layers": self.layers, "calibration": self.calibration, "context": self.context,
                "networks": self.networks}

    @classmethod
    def from_json(cls, doc: dict[str, Any], path: Path | None) -> LutProfile:
        body = doc["lut"]
        layers = body["layers"]
        if not layers or not all(isinstance(x, dict) and isinstance(x.get("key"), str)
                                 and isinstance(x.get("ms"), (int, float)) and math.isfinite(x["ms"])
                                 and abs(x["ms"]) <= MAX_LATENCY_MS and (x["ms"] >= 0 or "reference" in x)
                                 for x in layers):
            raise ValueError(f"'layers' must list {{key, ms}} entries, 0 <= ms <= {MAX_LATENCY_MS:g} (context "
                             "entries may be negative)")
        calibration = body["calibration"]
        if not all(isinstance(calibration.get(k), (int, float)) and math.isfinite(calibration[k])
                   and abs(calibration[k]) <= MAX_LATENCY_MS for k in ("scale", "offset_ms")) \
                or not 0 < calibration["scale"] <= MAX_CALIBRATION_SCALE:
            raise ValueError(f"'calibration' needs a 'scale' in (0, {MAX_CALIBRATION_SCALE:g}] and a finite "
                             f"'offset_ms' up to {MAX_LATENCY_MS:g} ms")
        get_space(doc["space"]).dataset(doc["dataset"])
        return cls(layers=layers, calibration=calibration, networks=body.get("networks", []),
                   context=bool(body.get("context", False)),
                   device=doc["device"], space=doc["space"], dataset=doc["dataset"],
                   provenance=doc.get("provenance", {}), validation=doc.get("validation"), path=path)
