"""The architectures a generator learns from, with what is known about each one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwdiff.data.oracle import AccuracyOracle
from hwdiff.hardware.profiles import Profile
from hwdiff.spaces.base import SearchSpace

UNLABELLED_SAMPLE = 20000  # spaces too large to enumerate train on this many uniform draws


@dataclass
class TrainingSet:
    """``accuracy`` is a fraction, NaN where unlabelled; latency is known for every architecture."""

    archs: list[str]
    accuracy: np.ndarray
    latency_ms: np.ndarray

    @property
    def labelled(self) -> np.ndarray:
        return ~np.isnan(self.accuracy)


def space_archs(space: SearchSpace, seed: int) -> list[str]:
    """Every architecture of the space, or a uniform sample when it is too large to list."""
    archs = space.enumerate()
    if archs is None:
        archs = sorted(set(space.random_archs(UNLABELLED_SAMPLE, np.random.default_rng(seed))))
    return archs


def label_pool_size(space: SearchSpace) -> int:
    """How many architectures a label budget can cover: the space's, or the uniform draws of a space too large
    to list (``space_archs``)."""
    return min(space.size, UNLABELLED_SAMPLE)


def build_training_set(space: SearchSpace, oracle: AccuracyOracle, profile: Profile, labels: int | None,
                       seed: int) -> TrainingSet:
    """Latency for every architecture; accuracy for all of them, or for ``labels`` drawn at random."""
    archs = space_archs(space, seed)
    accuracy = np.full(len(archs), np.nan)
    if labels is None or labels >= len(archs):
        chosen = np.arange(len(archs))
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(len(archs), size=labels, replace=False))
    accuracy[chosen] = oracle.predict([archs[i] for i in chosen])[0]
    return TrainingSet(archs, accuracy, profile.predict(archs))
