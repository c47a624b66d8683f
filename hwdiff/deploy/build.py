"""``hwdiff build``: an architecture string becomes a timm network, summarised."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from hwdiff.hardware import find_profile
from hwdiff.spaces import get_space
from hwdiff.spaces.complexity import Complexity, measure_complexity


@dataclass
class Accuracy:
    value: float  # fraction
    std: float | None
    source: str  # "table" or "predictor"
    metric: str


@dataclass
class Latency:
    device: str
    ms: float
    profile: str
    kind: str
    validation: dict | None


@dataclass
class NetworkSummary:
    space: str
    dataset: str
    arch: str
    timm_name: str
    num_classes: int
    input_size: tuple[int, int, int]
    complexity: Complexity
    accuracy: Accuracy
    latency: Latency | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["params"] = self.complexity.params
        doc["macs"] = self.complexity.macs
        doc["layers"] = doc.pop("complexity")["layers"]
        return doc


def build_network(arch: str, space: str, dataset: str, **kwargs) -> nn.Module:
    return get_space(space).create_model(arch, dataset, **kwargs)


def summarize_network(arch: str, space: str, dataset: str | None = None, device: str | None = None) -> NetworkSummary:
    """Build ``arch`` and report its size, accuracy (table or predicted) and, given a device, latency.

    ``dataset`` defaults to the space's first one (nb201: cifar10, effnet: imagenet).
    """
    sp = get_space(space)
    dataset = sp.dataset_name(dataset)
    info = sp.dataset(dataset)
    canonical = sp.canonical(arch)
    oracle = sp.accuracy_oracle(dataset)
    value, std = oracle.predict([canonical])
    latency = None
    if device is not None:
        profile = find_profile(device, space)
        latency = Latency(profile.device, float(profile.predict([canonical])[0]), profile.name, profile.kind,
                          profile.validation)
    model = sp.create_model(canonical, dataset)
    return NetworkSummary(
        space=space, dataset=dataset, arch=canonical, timm_name=sp.timm_name(dataset),
        num_classes=info.num_classes, input_size=info.input_size,
        complexity=measure_complexity(model, info.input_size),
        accuracy=Accuracy(float(value[0]), None if std is None else float(std[0]), oracle.source, oracle.metric),
        latency=latency,
        details=sp.build_details(canonical),
    )
