"""The effnet search space (EfficientNet-B0 skeleton, Accel-NASBench) and its timm networks."""

from hwdiff.spaces.effnet.layers import MBConvLayer, count, layer_variants, mbconv_layers
from hwdiff.spaces.effnet.space import B0, EffNetSpace, StageChoice, arch_values, block_strings, parse_arch

__all__ = ["B0", "EffNetSpace", "MBConvLayer", "StageChoice", "arch_values", "block_strings", "count",
           "layer_variants", "mbconv_layers", "parse_arch"]
