"""Parameter and multiply-accumulate counts of a network, per layer, from one forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LayerStats:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class Complexity:
    params: int
    macs: int
    layers: list[LayerStats]


def _leaf_macs(module: nn.Module, output: torch.Tensor) -> int:
    """MACs of one sample through a conv or linear layer (other layers count as free)."""
    if isinstance(module, nn.Conv2d):
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return output[0].numel() * per_output
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children, with plain containers (Sequential, ModuleList) opened one level."""
    out: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if type(child) in (nn.Sequential, nn.ModuleList):
            out.extend((f"{name}.{sub}", m) for sub, m in child.named_children())
        else:
            out.append((name, child))
    return out


@torch.no_grad()
def measure_complexity(model: nn.Module, input_size: tuple[int, int, int]) -> Complexity:
    """Params and MACs (multiply-accumulates, what NAS papers call FLOPs) for one input of ``input_size``."""
    layers = _layers(model)
    macs: dict[str, int] = {name: 0 for name, _ in layers}
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, layer in layers:
        hooks.append(layer.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))))
        for leaf in layer.modules():
            if isinstance(leaf, (nn.Conv2d, nn.Linear)):
                hooks.append(leaf.register_forward_hook(
                    lambda m, _i, out, name=name: macs.__setitem__(name, macs[name] + _leaf_macs(m, out))))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    stats = [
        LayerStats(name, type(layer).__name__, shapes.get(name, ()),
                   sum(p.numel() for p in layer.parameters()), macs[name])
        for name, layer in layers
    ]
    return Complexity(params=sum(p.numel() for p in model.parameters()), macs=sum(macs.values()), layers=stats)
