"""The layers a latency lookup table of the effnet space needs, built from the same timm parts.

170 entries: the stem, the 168 MBConv variants (``layers.layer_variants()``) at their input shape,
and the head (1x1 conv, BN-act, pooling, classifier). A network runs the stem and head once and
each of its ``mbconv_layers`` once. Every module comes from timm's own builders with the network's
settings (SiLU, BatchNorm, ``SqueezeExcite``), so a table times exactly what
``timm.create_model("effnet", ...)`` runs.
"""

from __future__ import annotations

from collections import Counter

from timm.layers import BatchNormAct2d, create_classifier, create_conv2d
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import EfficientNetBuilder, decode_arch_def, round_channels
from torch import nn

from hwdiff.spaces.base import LutLayer
from hwdiff.spaces.effnet.layers import MBConvLayer, layer_variants, mbconv_layers
from hwdiff.spaces.effnet.space import HEAD_CHANNELS, IMAGE_SIZE, OUT_CHANNELS, STEM_CHANNELS


def build_layer(layer: MBConvLayer) -> nn.Module:
    """One MBConv layer, the block ``EfficientNet`` builds for it (from a one-block stage)."""
    builder = EfficientNetBuilder(round_chs_fn=round_channels, act_layer=nn.SiLU, norm_layer=nn.BatchNorm2d,
                                  se_layer=SqueezeExcite)
    return builder(layer.in_chs, decode_arch_def([[layer.block_string()]]))[0][0]


def _stem() -> nn.Module:
    return nn.Sequential(create_conv2d(3, STEM_CHANNELS, 3, stride=2),
                         BatchNormAct2d(STEM_CHANNELS, act_layer=nn.SiLU))


def _head(num_classes: int) -> nn.Module:
    pool, classifier = create_classifier(HEAD_CHANNELS, num_classes)
    return nn.Sequential(create_conv2d(OUT_CHANNELS[-1], HEAD_CHANNELS, 1),
                         BatchNormAct2d(HEAD_CHANNELS, act_layer=nn.SiLU), pool, classifier)


def _describe(layer: MBConvLayer) -> str:
    kind = "depthwise-separable" if layer.expansion == 1 else f"MBConv e{layer.expansion}"
    se = " + SE" if layer.se else ""
    return (f"{kind} k{layer.kernel}{se} {layer.in_chs}->{layer.out_chs} stride {layer.stride} "
            f"at {layer.in_size}x{layer.in_size}")


def effnet_lut_layers(num_classes: int) -> list[LutLayer]:
    final = IMAGE_SIZE // 32
    layers = [LutLayer("stem", f"conv3x3/2-BN-SiLU 3->{STEM_CHANNELS} at {IMAGE_SIZE}x{IMAGE_SIZE}",
                       (3, IMAGE_SIZE, IMAGE_SIZE), _stem)]
    layers += [LutLayer(v.key, _describe(v), (v.in_chs, v.in_size, v.in_size), lambda v=v: build_layer(v),
                        repeatable=not v.first) for v in layer_variants()]
    layers.append(LutLayer("head", f"conv1x1-BN-SiLU {OUT_CHANNELS[-1]}->{HEAD_CHANNELS}, pool, linear "
                                   f"->{num_classes} at {final}x{final}", (OUT_CHANNELS[-1], final, final),
                           lambda: _head(num_classes)))
    return layers


def effnet_lut_usage(arch: str) -> dict[str, int]:
    return {"stem": 1, **Counter(layer.key for layer in mbconv_layers(arch)), "head": 1}
