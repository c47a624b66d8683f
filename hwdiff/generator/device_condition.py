"""How a device enters the shared generator: its own latency scale and its place among the devices.

The shared generator of a (space, dataset) is conditioned on three things: an accuracy bound, a
latency bound, and the device. The device is described by its head in the space's transfer latency
model (``hardware/transfer.py``: ``log t(a) = c + z(a) . w``): the components of ``w`` that carry
``DEVICE_VARIANCE`` of the source devices' spread, centred on their mean and divided by its size.
Every profile gives one (``TransferModel.project`` of its latencies over the space), so a shipped
table, a lut profile, an imported CSV and a 20-network few-shot profile are described alike.

The latency bound is normalised per device, on the quantile scale of the device's own latencies over
the space: the condition reads "among the fastest q of this device's networks", and the offset ``c``
(how fast the device is overall) drops out. Which networks those are is what the device vector says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.generator.scale import CLIP, ConditionScale
from hwdiff.hardware.transfer import DeviceFit, TransferModel

DEVICE_VARIANCE = 0.99  # share of the source heads' variance the device vector keeps


@dataclass(frozen=True)
class DeviceEncoder:
    """Head of a device -> the generator's device vector (``len(components)`` numbers)."""

    components: tuple[int, ...]  # which components of the head, most varying first
    mean: tuple[float, ...]
    scale: float
    transfer_sha256: str

    @classmethod
    def fit(cls, model: TransferModel) -> DeviceEncoder:
        heads = model.source_heads
        var = heads.var(axis=0)
        order = np.argsort(-var, kind="stable")
        share = np.cumsum(var[order]) / var.sum()
        keep = order[:int(np.searchsorted(share, DEVICE_VARIANCE)) + 1]
        return cls(tuple(int(k) for k in keep), tuple(float(m) for m in heads.mean(axis=0)[keep]),
                   float(np.sqrt(var.sum())), model.sha256)

    @property
    def dim(self) -> int:
        return len(self.components)

    def encode(self, fit: DeviceFit) -> np.ndarray:
        w = np.asarray(fit.weights, dtype=np.float64)[list(self.components)]
        return np.clip((w - np.asarray(self.mean)) / self.scale, -CLIP, CLIP)

    def check(self, model: TransferModel) -> None:
        if model.sha256 != self.transfer_sha256:
            raise HwdiffError(f"the shared generator was trained with another few-shot latency model of space "
                              f"{model.space}; retrain it (`python -m tools.train_shared_generator`) or use "
                              "`--generator device`")

    def to_json(self) -> dict:
        return {"components": list(self.components), "mean": list(self.mean), "scale": self.scale,
                "transfer_sha256": self.transfer_sha256}

    @classmethod
    def from_json(cls, doc: dict) -> DeviceEncoder:
        return cls(tuple(int(k) for k in doc["components"]), tuple(float(m) for m in doc["mean"]),
                   float(doc["scale"]), str(doc["transfer_sha256"]))


@dataclass(frozen=True)
class DeviceCondition:
    """One device as the shared generator sees it."""

    latency: ConditionScale  # the device's latencies over the space, quantile scale, log ms
    vector: np.ndarray  # DeviceEncoder.encode of its head


def latency_scale(latency_ms: np.ndarray) -> ConditionScale:
    return ConditionScale.fit("latency", np.asarray(latency_ms, dtype=float), log=True, method="quantile")


def describe_device(encoder: DeviceEncoder, model: TransferModel, archs: list[str], latency_ms: np.ndarray,
                    where: str, basis: np.ndarray | None = None) -> DeviceCondition:
    """The condition of a device whose latency over ``archs`` (the generator's training archs) is known;
    ``basis``: ``model.basis(archs)``, when the caller has it."""
    latency_ms = np.asarray(latency_ms, dtype=float)
    if not (np.isfinite(latency_ms) & (latency_ms > 0)).all():
        missing = int((~(np.isfinite(latency_ms) & (latency_ms > 0))).sum())
        raise HwdiffError(f"{where} has no usable latency for {missing} of the {len(archs)} architectures of space "
                          f"{model.space}: the shared generator needs a profile that covers the space (a full "
                          "table, a lut profile, or a few-shot profile)")
    encoder.check(model)
    return DeviceCondition(latency_scale(latency_ms), encoder.encode(model.project(archs, latency_ms, basis)))
