"""Model-kind profiles: latency regressions fitted on per-architecture measurements.

For spaces too large for a table (``effnet``: about 1e11 networks, 4,282 measured), a device's
latency is a fitted model, in two parts:

1. **additive**: intercept + sum over the network's layers of a per-layer-variant latency
   (``layer_counts``: 168 MBConv variants). A network's latency is close to the sum of its layers',
   so this part is a lookup table fitted by robust least squares on relative error;
2. **residual**: a small MLP on ``arch_features`` predicting ``log(measured / additive)``, for
   what is not additive (kernel fusion, padding to hardware tiles, pipeline floors on TPUs).

``predict`` = additive * exp(residual). Validation (k-fold, records never seen by the fit):
MAPE, share within +-10 %, Kendall tau; the additive part's own MAPE is recorded beside it.
The shipped ``profiles/<device>-effnet-model.json`` are made by ``python -m tools.fit_effnet_latency_models``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import MAX_LATENCY_MS, Profile, _short_float, register_profile_kind
from hwdiff.spaces import LatencyFeatures, get_space

ADDITIVE_NOTE = ("every network has one first layer per stage, so the intercept and the 'first' terms are "
                 "identifiable only in sum (least-norm solution); per-network sums are what the fit validates")


def latency_features(space: str) -> LatencyFeatures:
    """The space's features for model profiles; a space without them has no model profiles."""
    features = get_space(space).latency_features()
    if features is None:
        raise HwdiffError(f"no model profiles for space {space!r}: it has no latency features")
    return features


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


@register_profile_kind("model")
class ModelProfile(Profile):
    """Latency = (intercept + counts . term_ms) * exp(mlp(features))."""

    kind = "model"

    def __init__(self, *, intercept_ms: float, term_ms: np.ndarray, mlp: list[tuple[np.ndarray, np.ndarray]] | None,
                 **kwargs):
        super().__init__(**kwargs)
        self.features = latency_features(self.space)
        self.intercept_ms = float(intercept_ms)
        self.term_ms = np.asarray(term_ms, dtype=np.float64)
        self.mlp = mlp

    def additive(self, archs: Sequence[str]) -> np.ndarray:
        return self.intercept_ms + self.features.additive(archs) @ self.term_ms

    def residual(self, archs: Sequence[str]) -> np.ndarray:
        """``log(latency / additive)`` the MLP predicts (zeros without one)."""
        if not self.mlp:
            return np.zeros(len(archs))
        x = self.features.dense(archs).astype(np.float64)
        for i, (w, b) in enumerate(self.mlp):
            x = x @ w + b
            if i < len(self.mlp) - 1:
                x = _silu(x)
        return x[:, 0]

    def predict(self, archs: Sequence[str]) -> np.ndarray:
        if not len(archs):
            return np.zeros(0)
        return self.additive(archs) * np.exp(self.residual(archs))

    def _payload(self) -> dict[str, Any]:
        return {
            "features": self.features.version,
            "additive": {"intercept_ms": _short_float(self.intercept_ms), "terms": self.features.terms(),
                         "term_ms": [_short_float(v) for v in self.term_ms], "note": ADDITIVE_NOTE},
            "residual_mlp": None if not self.mlp else {
                "activation": "silu", "output": "log(latency / additive)",
                "layers": [{"weight": [[_short_float(v) for v in row] for row in w],
                            "bias": [_short_float(v) for v in b]} for w, b in self.mlp],
            },
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], path: Path | None) -> ModelProfile:
        model = doc["model"]
        space = doc["space"]
        features = latency_features(space)
        if model["features"] != features.version:
            raise ValueError(f"fitted on features {model['features']!r}; this hwdiff computes {features.version!r}")
        additive = model["additive"]
        if additive["terms"] != features.terms():
            raise ValueError("its additive terms differ from this hwdiff's layer variants")
        terms = np.asarray([additive["intercept_ms"], *additive["term_ms"]], dtype=np.float64)
        if not (np.isfinite(terms) & (np.abs(terms) <= MAX_LATENCY_MS)).all():
            raise ValueError(f"'intercept_ms' and 'term_ms' must be finite, at most {MAX_LATENCY_MS:g} ms either way")
        mlp = None
        if model.get("residual_mlp"):
            mlp = [(np.asarray(layer["weight"], dtype=np.float64), np.asarray(layer["bias"], dtype=np.float64))
                   for layer in model["residual_mlp"]["layers"]]
            sizes = [features.dense([]).shape[1]] + [b.shape[0] for _, b in mlp]
            if any(w.shape != (i, o) for (w, _), i, o in zip(mlp, sizes[:-1], sizes[1:])) or sizes[-1] != 1:
                raise ValueError("residual_mlp layer shapes do not chain from the features to one output")
            if not all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in mlp):
                raise ValueError("residual_mlp weights must be finite numbers")
        return cls(intercept_ms=additive["intercept_ms"], term_ms=np.asarray(additive["term_ms"], dtype=np.float64),
                   mlp=mlp, device=doc["device"], space=space, dataset=doc.get("dataset", ""),
                   provenance=doc.get("provenance", {}), validation=doc.get("validation"), path=path)
