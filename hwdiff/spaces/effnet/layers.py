"""The MBConv layers of an effnet network, and its parameter and MAC counts, without building it.

Every network of the space is a 3x3 stem conv (32 channels, stride 2), the MBConv layers listed by
``mbconv_layers(arch)``, a 1x1 head conv (320 -> 1280), global average pooling and a 1000-way
linear classifier. A layer is fully described by its stage, whether it is the stage's first layer
(which carries the stride and the channel change) and the stage's expansion, kernel and SE choice,
so the space has only ``len(layer_variants())`` = 168 distinct layers: what a per-layer latency
table measures, and what the fitted latency models of ``hwdiff.hardware.model_profile`` weigh.

Two MAC conventions are counted. ``macs`` is hwdiff's (multiply-accumulates of conv and linear
layers, what ``hwdiff.spaces.complexity`` measures on the built network). ``macs_thop`` is the
figure in the Accel-NASBench records, which were counted by ``thop``: conv and linear MACs plus 4
operations per BatchNorm output element (normalise and affine) plus ``H*W + 1`` per channel for
every adaptive average pooling (the SE squeeze and the head pooling). Both are exact for the
networks ``timm.create_model("effnet", arch=...)`` builds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hwdiff.spaces.effnet.space import (
    EXPANSIONS,
    HEAD_CHANNELS,
    IMAGE_SIZE,
    IN_CHANNELS,
    KERNELS,
    NUM_STAGES,
    OUT_CHANNELS,
    STEM_CHANNELS,
    STRIDES,
    parse_arch,
)

BN_OPS = 4  # thop: 2 per element to normalise, doubled for the affine scale and shift


@dataclass(frozen=True)
class Counts:
    params: int
    macs: int
    macs_thop: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.params + other.params, self.macs + other.macs, self.macs_thop + other.macs_thop)


def _conv(c_in: int, c_out: int, kernel: int, out_size: int, groups: int = 1, bias: bool = False,
          bn: bool = True) -> Counts:
    """A conv (+ BatchNorm) layer: weights, BN affine, MACs; thop adds BN element ops."""
    params = c_out * (c_in // groups) * kernel * kernel + (c_out if bias else 0) + (2 * c_out if bn else 0)
    macs = out_size * out_size * c_out * (c_in // groups) * kernel * kernel
    return Counts(params, macs, macs + (BN_OPS * out_size * out_size * c_out if bn else 0))


def _pool(channels: int, in_size: int) -> Counts:
    """Global average pooling: free for hwdiff, ``H*W + 1`` ops per channel for thop."""
    return Counts(0, 0, (in_size * in_size + 1) * channels)


@dataclass(frozen=True)
class MBConvLayer:
    """One MBConv (or, at expansion 1, depthwise-separable) layer at its place in the network."""

    stage: int  # 0-based
    first: bool  # the stage's first layer: stride and channel change happen here
    expansion: int
    kernel: int
    se: bool

    @property
    def in_chs(self) -> int:
        return IN_CHANNELS[self.stage] if self.first else OUT_CHANNELS[self.stage]

    @property
    def out_chs(self) -> int:
        return OUT_CHANNELS[self.stage]

    @property
    def mid_chs(self) -> int:
        return self.in_chs * self.expansion

    @property
    def stride(self) -> int:
        return STRIDES[self.stage] if self.first else 1

    @property
    def in_size(self) -> int:
        """Input height (= width) at 224x224 images."""
        size = IMAGE_SIZE // 2  # after the stem
        for s in range(self.stage + (0 if self.first else 1)):
            size //= STRIDES[s]
        return size

    @property
    def out_size(self) -> int:
        return self.in_size // self.stride

    @property
    def se_chs(self) -> int:
        """Squeeze channels: a quarter of the layer's input channels (timm ``se0.25``, torchvision ``in // 4``)."""
        return self.in_chs // 4

    @property
    def key(self) -> str:
        """Short unique name, e.g. ``s3.first.e6k5se`` (stage 1-based)."""
        return (f"s{self.stage + 1}.{'first' if self.first else 'rest'}."
                f"e{self.expansion}k{self.kernel}{'se' if self.se else ''}")

    def block_string(self) -> str:
        """timm block string of this one layer (``ir_r1_k5_s2_e6_c40_se0.25``)."""
        kind = "ds" if self.expansion == 1 else "ir"
        return (f"{kind}_r1_k{self.kernel}_s{self.stride}_e{self.expansion}_c{self.out_chs}"
                f"{'_se0.25' if self.se else ''}")

    def counts(self) -> Counts:
        mid, size = self.mid_chs, self.out_size
        total = Counts(0, 0, 0)
        if self.expansion != 1:
            total += _conv(self.in_chs, mid, 1, self.in_size)
        total += _conv(mid, mid, self.kernel, size, groups=mid)
        if self.se:
            total += _pool(mid, size)
            total += _conv(mid, self.se_chs, 1, 1, bias=True, bn=False)
            total += _conv(self.se_chs, mid, 1, 1, bias=True, bn=False)
        return total + _conv(mid, self.out_chs, 1, size)


def mbconv_layers(arch: str) -> list[MBConvLayer]:
    """The MBConv layers of ``arch`` in network order."""
    layers = []
    for s, c in enumerate(parse_arch(arch)):
        layers.extend(MBConvLayer(s, i == 0, c.expansion, c.kernel, c.se) for i in range(c.layers))
    return layers


@functools.cache
def layer_variants() -> tuple[MBConvLayer, ...]:
    """Every distinct layer the space can contain (7 stages x first/rest x expansion x kernel x se)."""
    return tuple(MBConvLayer(s, first, e, k, se) for s in range(NUM_STAGES) for first in (True, False)
                 for e in EXPANSIONS for k in KERNELS for se in (False, True))


def fixed_counts(num_classes: int = 1000) -> Counts:
    """Stem, head conv, pooling and classifier: the part every network shares."""
    final = IMAGE_SIZE // 32
    stem = _conv(3, STEM_CHANNELS, 3, IMAGE_SIZE // 2)
    head = _conv(OUT_CHANNELS[-1], HEAD_CHANNELS, 1, final) + _pool(HEAD_CHANNELS, final)
    linear = HEAD_CHANNELS * num_classes
    return stem + head + Counts(linear + num_classes, linear, linear)


def count(arch: str, num_classes: int = 1000) -> Counts:
    """Params and MACs (both conventions) of ``arch`` for one 224x224 image."""
    total = fixed_counts(num_classes)
    for layer in mbconv_layers(arch):
        total += _layer_counts(layer)
    return total


@functools.cache
def _layer_counts(layer: MBConvLayer) -> Counts:
    return layer.counts()
