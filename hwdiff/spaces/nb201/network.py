"""The NAS-Bench-201 network as a timm model.

Skeleton (Dong & Yang, ICLR 2020): a 3x3 conv stem, three stages of 5 cells at 16, 32 and 64
channels joined by residual reduction blocks, then BN-ReLU, global average pooling and a linear
classifier. Registered as ``nb201`` with one pretrained tag per dataset (``nb201.cifar10``,
``nb201.cifar100``, ``nb201.imagenet16``); the tag sets ``num_classes`` and the input size in
``pretrained_cfg``. The network is fully convolutional, so any input size runs.
"""

from __future__ import annotations

import torch
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn

from hwdiff.spaces.nb201.space import EDGES, parse_ops

STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}")


class NB201Cell(nn.Module):
    """Node i = sum over j < i of op_{i<-j}(node j); the cell returns node 3."""

    def __init__(self, ops: tuple[str, ...], channels: int):
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(sum(op(nodes[src]) for op, (dst, src) in zip(self.edges, EDGES) if dst == node))
        return nodes[3]


class ResidualReduction(nn.Module):
    """NB201's ResNet basic block with stride 2: two ReLU-conv-BN plus an avgpool-1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, arch: str, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__()
        ops = parse_ops(arch)
        self.arch = arch
        self.num_classes = num_classes
        self.num_features = STAGE_CHANNELS[-1]
        c0 = STAGE_CHANNELS[0]
        self.stem = nn.Sequential(nn.Conv2d(in_chans, c0, 3, padding=1, bias=False), nn.BatchNorm2d(c0))
        blocks: list[nn.Module] = []
        for s, channels in enumerate(STAGE_CHANNELS):
            if s > 0:
                blocks.append(ResidualReduction(STAGE_CHANNELS[s - 1], channels))
            blocks.extend(NB201Cell(ops, channels) for _ in range(CELLS_PER_STAGE))
        self.cells = nn.Sequential(*blocks)
        self.head_act = nn.Sequential(nn.BatchNorm2d(self.num_features), nn.ReLU(inplace=True))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.classifier = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_act(self.cells(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(self.global_pool(x).flatten(1))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(num_classes: int, size: int) -> dict:
    return {
        "num_classes": num_classes,
        "input_size": (3, size, size),
        "pool_size": (size // 4, size // 4),
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "mean": (0.4914, 0.4822, 0.4465),
        "std": (0.2470, 0.2435, 0.2616),
        "first_conv": "stem.0",
        "classifier": "classifier",
    }


default_cfgs = generate_default_cfgs({
    "nb201.cifar10": _cfg(10, 32),
    "nb201.cifar100": _cfg(100, 32),
    "nb201.imagenet16": _cfg(120, 16),
})


@register_model
def nb201(pretrained: bool = False, **kwargs) -> NB201Network:
    """NAS-Bench-201 network; ``arch`` (an NB201 cell string) is required."""
    if "arch" not in kwargs:
        raise TypeError("nb201 needs arch='|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'")
    return build_model_with_cfg(NB201Network, "nb201", pretrained, **kwargs)
