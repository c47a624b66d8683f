"""Scores of architectures: accuracy (table or predictor), latency (device profile), params.

``hwdiff search`` and ``hwdiff predict`` use this same scorer, so a number means the same in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from hwdiff.data.oracle import AccuracyOracle
from hwdiff.hardware.profiles import Profile
from hwdiff.spaces.base import SearchSpace


@dataclass
class Candidate:
    arch: str
    accuracy: float
    accuracy_std: float | None
    accuracy_source: str
    latency_ms: float
    latency_source: str
    params: int | None = None
    novel: bool | None = None
    accuracy_metric: str = ""  # what the accuracy is (the oracle's metric: 200-epoch test, proxy-trained predicted)
    latency_kind: str = ""  # what the milliseconds are (``LatencyKind.key`` of the profile)

    def to_json(self) -> dict:
        doc = asdict(self)
        if doc["accuracy_std"] is None:
            del doc["accuracy_std"]
        return doc


class Scorer:
    def __init__(self, space: SearchSpace, dataset: str, oracle: AccuracyOracle, profile: Profile,
                 known: Iterable[str] = ()):
        self.space, self.dataset, self.oracle, self.profile = space, dataset, oracle, profile
        self.known = set(known)

    @property
    def latency_source(self) -> str:
        return f"{self.profile.kind}:{self.profile.name}"

    def params(self, arch: str) -> int:
        return self.space.param_count(arch, self.dataset)

    def score(self, archs: Sequence[str], with_params: bool = False) -> list[Candidate]:
        """Canonical archs -> candidates (params only when asked: a space may build each network to count them)."""
        if not archs:
            return []
        accuracy, std = self.oracle.predict(archs)
        latency = self.profile.predict(archs)
        out = []
        for k, arch in enumerate(archs):
            out.append(Candidate(
                arch=arch, accuracy=float(accuracy[k]),
                accuracy_std=None if std is None else float(std[k]),
                accuracy_source=self.oracle.source, latency_ms=float(latency[k]),
                latency_source=self.latency_source,
                params=self.params(arch) if with_params else None,
                novel=arch not in self.known, accuracy_metric=self.oracle.metric,
                latency_kind=self.profile.latency_kind.key))
        return out

    def arrays(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy, latency) arrays for many archs at once."""
        return self.oracle.predict(archs)[0], self.profile.predict(archs)
