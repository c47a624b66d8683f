"""``hwdiff build``: an architecture string becomes a timm network, summarised."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from hwdiff.spaces import get_space
from hwdiff.spaces.complexity import Complexity, measure_complexity


@dataclass
class NetworkSummary:
    space: str
    dataset: str
    arch: str
    timm_name: str
    num_classes: int
    input_size: tuple[int, int, int]
    complexity: Complexity

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["params"] = self.complexity.params
        doc["macs"] = self.complexity.macs
        doc["layers"] = doc.pop("complexity")["layers"]
        return doc


def build_network(arch: str, space: str, dataset: str, **kwargs) -> nn.Module:
    return get_space(space).create_model(arch, dataset, **kwargs)


def summarize_network(arch: str, space: str, dataset: str) -> NetworkSummary:
    sp = get_space(space)
    info = sp.dataset(dataset)
    canonical = sp.canonical(arch)
    model = sp.create_model(canonical, dataset)
    return NetworkSummary(
        space=space, dataset=dataset, arch=canonical, timm_name=sp.timm_name(dataset),
        num_classes=info.num_classes, input_size=info.input_size,
        complexity=measure_complexity(model, info.input_size),
    )
