"""effnet networks as timm models, built by timm's own EfficientNet builder.

``timm.create_model("effnet", arch="e1k3l1s-...")`` turns the arch into timm block strings
(``block_strings``), decodes them with ``decode_arch_def`` and builds ``timm``'s ``EfficientNet``
with the B0 skeleton: 32-channel stem, 1280-channel head, SiLU ("swish") activations, BatchNorm.
``act_layer="relu"`` builds the ReLU variant (Accel-NASBench's ``platform="fpga"`` networks, which
its FPGA and TPU measurements ran). One pretrained tag (no weights): ``effnet.imagenet`` (1000
classes, 3x224x224).
"""

from __future__ import annotations

from functools import partial

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, resolve_bn_args, round_channels
from timm.models.efficientnet import EfficientNet
from torch import nn

from hwdiff.spaces.effnet.space import HEAD_CHANNELS, IMAGE_SIZE, STEM_CHANNELS, block_strings


def _cfg(num_classes: int, size: int) -> dict:
    return {
        "num_classes": num_classes,
        "input_size": (3, size, size),
        "pool_size": (size // 32, size // 32),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "conv_stem",
        "classifier": "classifier",
    }


default_cfgs = generate_default_cfgs({"effnet.imagenet": _cfg(1000, IMAGE_SIZE)})


@register_model
def effnet(pretrained: bool = False, **kwargs) -> EfficientNet:
    """An effnet-space network; ``arch`` (e.g. ``e1k3l1s-e6k3l2s-...``) is required."""
    if "arch" not in kwargs:
        raise TypeError("effnet needs arch='e1k3l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s'")
    arch = kwargs.pop("arch")
    model_kwargs = dict(
        block_args=decode_arch_def([[s] for s in block_strings(arch)]),
        num_features=HEAD_CHANNELS,
        stem_size=STEM_CHANNELS,
        round_chs_fn=partial(round_channels, multiplier=1.0, divisor=8),
        act_layer=resolve_act_layer(kwargs, "swish"),
        norm_layer=kwargs.pop("norm_layer", None) or partial(nn.BatchNorm2d, **resolve_bn_args(kwargs)),
        **kwargs,
    )
    return build_model_with_cfg(EfficientNet, "effnet", pretrained, **model_kwargs)
