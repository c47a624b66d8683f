import pytest
import timm
import torch

import hwdiff.spaces.nb201.network  # noqa: F401  (registers the timm model)
from hwdiff.deploy.build import summarize_network
from hwdiff.spaces import get_space
from hwdiff.spaces.nb201 import OPS, format_ops

SPACE = get_space("nb201")


def analytic_params(ops, num_classes):
    """NB201 parameter count derived by hand from the skeleton (conv weights + BN affine)."""
    per_op = {"nor_conv_3x3": lambda c: 9 * c * c + 2 * c, "nor_conv_1x1": lambda c: c * c + 2 * c}
    total = 3 * 16 * 9 + 2 * 16  # stem conv + BN
    for c in (16, 32, 64):
        total += 5 * sum(per_op[op](c) if op in per_op else 0 for op in ops)
    for c_in, c_out in ((16, 32), (32, 64)):
        total += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
    return total + 2 * 64 + 64 * num_classes + num_classes


# Every op appears at least twice, on different edges.
SAMPLE = [
    format_ops(["nor_conv_3x3"] * 6),
    format_ops(["none"] * 6),
    format_ops(["skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3", "skip_connect"]),
    format_ops(["avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3"]),
    format_ops(["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none", "nor_conv_1x1"]),
]


@pytest.mark.parametrize("dataset,classes,size", [("cifar10", 10, 32), ("cifar100", 100, 32),
                                                   ("imagenet16", 120, 16)])
@pytest.mark.parametrize("arch", SAMPLE)
def test_forward_shape(arch, dataset, classes, size):
    model = SPACE.create_model(arch, dataset).eval()
    assert model.pretrained_cfg["input_size"] == (3, size, size)
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, classes)
    assert sum(p.numel() for p in model.parameters()) == analytic_params(SPACE.ops(arch), classes)


def test_all_ops_covered_by_the_sample():
    assert {op for a in SAMPLE for op in SPACE.ops(a)} == set(OPS)


def test_timm_create_model_by_name():
    model = timm.create_model("nb201", arch=SAMPLE[0], num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 1_531_546  # NB201's published 1.5315 MB
    model = timm.create_model("nb201.imagenet16", arch=SAMPLE[2])
    assert model.num_classes == 120


def test_summary_counts_macs():
    summary = summarize_network(SAMPLE[0], "nb201", "cifar10")
    assert summary.complexity.params == 1_531_546
    # NB201 reports 220.11 MFLOPs (multiply-accumulates) for the all-3x3 cell on CIFAR-10.
    assert round(summary.complexity.macs / 1e6, 2) == 220.12
    assert summarize_network(SAMPLE[1], "nb201", "cifar10").complexity.macs < summary.complexity.macs
