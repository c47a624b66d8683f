"""Few-shot profiles: a device described by a few measured whole networks and the space's transfer model.

A ``fewshot`` profile stores what was measured (archs and latencies) and, for the record, the fit the
shipped transfer model (``hardware/transfer.py``) made of them; ``predict`` covers every arch of the
space. Its stated error comes from networks the fit never saw: extra held-out networks when they were
measured (``hwdiff profile --networks``), else leave-one-out over the measured ones (imported CSVs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import Profile, _short_float, check_latencies_ms, register_profile_kind
from hwdiff.hardware.transfer import MIN_NETWORKS, DeviceFit, TransferModel, load_transfer_model
from hwdiff.metrics import spearman, validation_metrics
from hwdiff.spaces import get_space

DEFAULT_NETWORKS = 20
DEFAULT_HOLDOUT = 10  # extra random networks measured beside the design, only to state the error
DESIGN_POOL = 2000  # random candidates the design picks from (the seed draws them)


def check_measurements(archs: Sequence[str], latency_ms: Sequence[float], space: str, what: str) -> None:
    """One line for each way a set of measurements cannot describe a device."""
    if len(archs) < MIN_NETWORKS:
        raise HwdiffError(f"{what}: {len(archs)} measured network(s); a few-shot profile needs at least {MIN_NETWORKS}")
    if len(set(archs)) != len(archs):
        raise HwdiffError(f"{what}: an architecture is listed twice; give one latency per architecture")
    values = np.asarray(latency_ms, dtype=np.float64)
    if not (np.isfinite(values) & (values > 0)).all():
        raise HwdiffError(f"{what}: latencies must be positive, finite milliseconds")
    try:
        check_latencies_ms(values, f"{what}: latencies")
    except ValueError as exc:
        raise HwdiffError(str(exc)) from None
    get_space(space)


def stated_error(measured: Sequence[float], predicted: Sequence[float], method: str, scheme: str) -> dict[str, Any]:
    """The lut profiles' error figures plus Spearman; ``scheme``: ``held-out`` (networks measured for the
    check) or ``leave-one-out`` (over the fitted ones)."""
    rho = spearman(measured, predicted)
    return {"method": method, "scheme": scheme, "n": len(measured), **validation_metrics(predicted, measured),
            "spearman": None if math.isnan(rho) else rho}


def few_shot_design(space: str, n: int, seed: int = 0) -> list[str]:
    """The ``n`` networks a few-shot profile measures: reproducible for ``seed``, spread over the space.

    Stratified random sampling on the transfer model's prior: ``seed`` draws ``DESIGN_POOL`` distinct
    random archs, which are sorted by the latency the model expects of an average device (the prior mean
    head) and cut into ``n`` strata of equal size; one arch is drawn from each. The networks thus span the
    space's latency range from its lightest to its heaviest, and are random within it (robust where the
    model is wrong). Leave-one-device-out over the 24 nb201 devices (3 seeds, N = 20) it matched random
    draws in Spearman (0.973) with more archs within +-10 % (85.8 % vs 84.8 %); a greedy D-optimal
    design took only extremes and did worse (81.1 %).
    """
    model = load_transfer_model(space)
    rng = np.random.default_rng(seed)
    pool = random_archs(space, min(DESIGN_POOL, get_space(space).size), rng)
    if n > len(pool):
        raise HwdiffError(f"--networks {n}: a design draws at most {len(pool)} networks of {space}")
    mean_head, _ = model.prior
    order = np.argsort(model.basis(pool) @ mean_head, kind="stable")
    edges = np.linspace(0, len(pool), n + 1).astype(int)
    return [pool[order[rng.integers(lo, hi)]] for lo, hi in zip(edges[:-1], edges[1:])]


def random_archs(space: str, n: int, rng: np.random.Generator, exclude: Sequence[str] = ()) -> list[str]:
    """``n`` distinct random archs of ``space`` (canonical) not in ``exclude``, in the order drawn."""
    space_obj, taken = get_space(space), set(exclude)
    if n > space_obj.size - len(taken):
        raise HwdiffError(f"the space {space} has fewer than {n} architectures besides the {len(taken)} taken")
    archs: dict[str, None] = {}
    while len(archs) < n:
        for arch in space_obj.random_archs(n - len(archs), rng):
            arch = space_obj.canonical(arch)
            if arch not in taken:
                archs.setdefault(arch)
    return list(archs)


@register_profile_kind("fewshot")
class FewShotProfile(Profile):
    """Latency = the space's transfer model adapted to the measured networks."""

    kind = "fewshot"

    def __init__(self, *, archs: Sequence[str], latency_ms: Sequence[float],
                 holdout: tuple[Sequence[str], Sequence[float]] | None = None,
                 model: TransferModel | None = None, **kwargs):
        super().__init__(**kwargs)
        if model is not None:  # another than the shipped one (leave-one-device-out benchmarks)
            self.model = model
        self.archs = list(archs)
        self.latency_ms = np.asarray(latency_ms, dtype=np.float64)
        self.holdout = (list(holdout[0]), np.asarray(holdout[1], dtype=np.float64)) if holdout else None

    def __len__(self) -> int:
        """The measured networks the fit used (held-out ones not counted)."""
        return len(self.archs)

    @classmethod
    def fit(cls, *, device: str, space: str, dataset: str, archs: Sequence[str], latency_ms: Sequence[float],
            provenance: dict[str, Any], holdout: tuple[Sequence[str], Sequence[float]] | None = None,
            model: TransferModel | None = None) -> FewShotProfile:
        """Adapt the transfer model to ``archs``/``latency_ms`` and state the error (held out, else leave-one-out)."""
        check_measurements(archs, latency_ms, space, f"device {device}")
        profile = cls(archs=archs, latency_ms=[_short_float(v) for v in latency_ms], holdout=holdout, model=model,
                      device=device, space=space, dataset=dataset, provenance=provenance)
        profile.validation = profile.held_out_validation()
        return profile

    @functools.cached_property
    def model(self) -> TransferModel:
        return load_transfer_model(self.space)

    @functools.cached_property
    def device_fit(self) -> DeviceFit:
        return self.model.adapt(self.archs, self.latency_ms)

    @property
    def log_error_sd(self) -> float:
        """The fit's own predictive spread (noise plus posterior uncertainty): defined for any number of
        networks, where a stated error over a handful of held-out ones is itself noisy."""
        return self.device_fit.log_sd

    def predict(self, archs: Sequence[str]) -> np.ndarray:
        space = get_space(self.space)
        return self.model.predict_ms(self.device_fit, [space.canonical(a) for a in archs])

    def held_out_validation(self) -> dict[str, Any]:
        if self.holdout:
            archs, measured = self.holdout
            return stated_error(measured, self.predict(archs),
                                      f"{len(archs)} held-out networks measured beside the {len(self.archs)} fitted",
                                      "held-out")
        predicted = np.empty(len(self.archs))
        for i in range(len(self.archs)):
            rest = [j for j in range(len(self.archs)) if j != i]
            fit = self.model.adapt([self.archs[j] for j in rest], self.latency_ms[rest], minimum=MIN_NETWORKS - 1)
            predicted[i] = self.model.predict_ms(fit, [self.archs[i]])[0]
        return stated_error(self.latency_ms, predicted,
                                  f"leave-one-out over the {len(self.archs)} measured networks", "leave-one-out")

    @property
    def summary(self) -> str:
        source = super().summary
        return f"{source}; few-shot fit of {len(self.archs)} networks" if source else \
            f"few-shot fit of {len(self.archs)} networks"

    def _payload(self) -> dict[str, Any]:
        fit = self.device_fit
        return {
            "model": {"space": self.space, "sha256": self.model.sha256, "components": self.model.components,
                      "source_devices": list(self.model.source_devices)},
            "measured": {"archs": self.archs, "latency_ms": [_short_float(v) for v in self.latency_ms]},
            "holdout": None if not self.holdout else {
                "archs": self.holdout[0], "latency_ms": [_short_float(v) for v in self.holdout[1]]},
            "fit": {"offset": _short_float(fit.offset), "weights": [_short_float(v) for v in fit.weights],
                    "noise_variance": _short_float(fit.noise),
                    "nearest_devices": [[d, round(s, 3)] for d, s in self.model.nearest_sources(fit)]},
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], path: Path | None) -> FewShotProfile:
        payload = doc["fewshot"]
        space = doc["space"]
        measured = payload["measured"]
        archs, values = list(measured["archs"]), measured["latency_ms"]
        canonical = get_space(space).canonical
        archs = [canonical(a) for a in archs]
        if len(archs) != len(values):
            raise ValueError("'archs' and 'latency_ms' differ in length")
        check_measurements(archs, values, space, "measured")
        holdout = None
        if payload.get("holdout"):
            h_archs = [canonical(a) for a in payload["holdout"]["archs"]]
            h_values = payload["holdout"]["latency_ms"]
            if len(h_archs) != len(h_values):
                raise ValueError("holdout 'archs' and 'latency_ms' differ in length")
            check_latencies_ms(h_values, "holdout latencies")
            holdout = (h_archs, h_values)
        return cls(archs=archs, latency_ms=values, holdout=holdout, device=doc["device"], space=space,
                   dataset=doc.get("dataset", ""), provenance=doc.get("provenance", {}),
                   validation=doc.get("validation"), path=path)
