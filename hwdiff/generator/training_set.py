"""The architectures a generator learns from, with what is known about each one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwdiff.data.oracle import AccuracyOracle
from hwdiff.generator.device_condition import DeviceCondition, DeviceEncoder, describe_device, latency_scale
from hwdiff.hardware.profiles import Profile
from hwdiff.hardware.transfer import DeviceFit, TransferModel
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


SYNTHETIC_PER_SOURCE = 1  # synthetic devices per source device (method.md: 4 left the outlier devices too few rows)
SYNTHETIC_SHARE = 0.25  # of the architectures each synthetic device contributes rows for


@dataclass
class DeviceRows:
    """A shared generator's training rows: (architecture, device) pairs, latency on the device's scale."""

    archs: list[str]
    accuracy: np.ndarray  # [N], per architecture
    arch_index: np.ndarray  # [M]: the architecture of each row
    latency: np.ndarray  # [M]: normalised on the row's device's quantile scale
    vector: np.ndarray  # [M, k]: the row's device vector
    devices: list[str]  # the source devices, then "synthetic" once per synthetic device


def build_device_rows(space: SearchSpace, oracle: AccuracyOracle, sources: dict[str, np.ndarray],
                      transfer: TransferModel, encoder: DeviceEncoder, seed: int = 0) -> DeviceRows:
    """Rows for every source device (``sources``: device -> latency ms of ``space_archs(space, 0)``), and for
    ``SYNTHETIC_PER_SOURCE`` times as many synthetic devices whose heads are drawn from the transfer model's
    prior: the generator sees devices between and around the measured ones, not only those few points."""
    archs = space_archs(space, seed=0)
    rng = np.random.default_rng(seed)
    index, latency, vector, names = [], [], [], []

    def add(name: str, lat: np.ndarray, cond: DeviceCondition, rows: np.ndarray) -> None:
        index.append(rows)
        latency.append(cond.latency.normalize(lat[rows]))
        vector.append(np.tile(cond.vector, (len(rows), 1)))
        names.append(name)

    everything = np.arange(len(archs))
    basis = transfer.basis(archs)  # one feature pass over the space serves every device, real and synthetic
    for device, lat in sources.items():
        add(device, lat, describe_device(encoder, transfer, archs, lat, f"source device {device}", basis), everything)
    mean, cov = transfer.prior
    for w in rng.multivariate_normal(mean, cov, size=SYNTHETIC_PER_SOURCE * len(sources)):
        lat = np.exp(basis @ w)
        cond = DeviceCondition(latency_scale(lat), encoder.encode(DeviceFit(0.0, w, 0.0)))
        add("synthetic", lat, cond, np.sort(rng.choice(len(archs), int(SYNTHETIC_SHARE * len(archs)), replace=False)))
    return DeviceRows(archs, oracle.predict(archs)[0], np.concatenate(index), np.concatenate(latency),
                      np.concatenate(vector), names)
