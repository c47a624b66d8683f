import numpy as np
import pytest
import timm
import torch
from timm.models._efficientnet_blocks import SqueezeExcite
from torch import nn

import hwdiff.spaces.effnet.network  # noqa: F401  (registers the timm model)
from hwdiff.data.effnet import effnet_records
from hwdiff.errors import InvalidArchError
from hwdiff.spaces import get_space
from hwdiff.spaces.complexity import measure_complexity
from hwdiff.spaces.effnet import B0, block_strings, count, layer_variants, mbconv_layers
from hwdiff.spaces.effnet.features import arch_features, layer_counts
from hwdiff.spaces.effnet.layers import BN_OPS

SPACE = get_space("effnet")


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

# Every choice appears: expansion 1/4/6, kernel 3/5, 1-4 layers, SE on and off, e1 in a strided stage.
SAMPLE = [
    B0,
    "e4k5l3-e1k3l1-e6k5l3s-e1k5l2-e4k3l1s-e6k3l1-e1k5l3s",
    "e6k3l2s-e4k3l3-e1k3l2s-e6k5l1-e1k5l3-e4k5l4s-e4k3l2",
]


def test_strings_round_trip_through_the_graph():
    rng = np.random.default_rng(0)
    archs = SAMPLE + SPACE.random_archs(500, rng) + effnet_records().archs
    nodes, edges = SPACE.encode(archs)
    assert nodes.shape == (len(archs), 7, 4) and edges.shape == (len(archs), 7, 7)
    assert SPACE.decode(nodes, edges) == archs
    assert all(SPACE.canonical(a) == a for a in archs)
    assert SPACE.canonical(f"  {B0.upper()} ") == B0


def test_space_size_and_graph_spec():
    assert SPACE.size == 36 ** 6 * 48
    assert SPACE.enumerate() is None
    spec = SPACE.graph_spec
    assert [a.name for a in spec.node_attributes] == ["expansion", "kernel", "layers", "se"]
    assert list(zip(*spec.fixed_edges.nonzero())) == [(i, i + 1) for i in range(6)]  # directed chain
    layers = spec.allowed_mask(2)
    assert layers[:, :3].all() and list(layers[:, 3].nonzero()[0]) == [5]  # 4 layers: 192-channel stage only
    assert spec.allowed_mask(0).all() and spec.node_mask.all()


def test_graphs_that_break_the_rules_decode_to_none():
    nodes, edges = SPACE.encode([B0, B0, B0, B0])
    edges[0, 2, 0] = 1  # a backward edge
    nodes[1, 0, 2] = 3  # 4 layers in stage 1
    nodes[2, 3, 1] = 2  # kernel index out of range
    assert SPACE.decode(nodes, edges) == [None, None, None, B0]


def test_random_archs_are_uniform_over_the_choices():
    values = np.array([[[c.expansion, c.kernel, c.layers, c.se] for c in SPACE.stages(a)]
                       for a in SPACE.random_archs(3000, np.random.default_rng(1))])
    assert set(values[:, 5, 2]) == {1, 2, 3, 4} and set(values[:, [0, 1, 2, 3, 4, 6], 2].ravel()) == {1, 2, 3}
    assert abs(values[:, :, 3].mean() - 0.5) < 0.03 and abs((values[:, :, 0] == 1).mean() - 1 / 3) < 0.03


def test_mutation_changes_exactly_one_choice():
    rng = np.random.default_rng(2)
    for arch in SPACE.random_archs(200, rng):
        child = SPACE.mutate(arch, rng)
        before = np.array([[c.expansion, c.kernel, c.layers, c.se] for c in SPACE.stages(arch)])
        after = np.array([[c.expansion, c.kernel, c.layers, c.se] for c in SPACE.stages(child)])
        assert (before != after).sum() == 1 and SPACE.is_valid(child)


@pytest.mark.parametrize("bad, message", [
    ("", "empty"),
    ("e1k3l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s", "has 6 stage(s)"),
    (B0 + "-e6k3l1", "has 8 stage(s)"),
    ("e1k3l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1x", "stage 7 'e6k3l1x'"),
    ("e1k3l1s-e5k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s", "expansion 5 is not a choice; accepted: 1, 4, 6"),
    ("e1k7l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s", "kernel 7 is not a choice; accepted: 3, 5"),
    ("e1k3l4s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s", "4 layers is not a choice; accepted: 1, 2, 3"),
    ("e1k3l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l5s-e6k3l1s", "5 layers is not a choice; accepted: 1, 2, 3, 4"),
    ("e1k3l0s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s", "0 layers"),
    ("e1-k3-l1-s-e6-k3-l2", "malformed"),
])
def test_bad_strings_are_rejected_with_a_reason(bad, message):
    with pytest.raises(InvalidArchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SPACE.canonical(bad)


def test_b0_is_timms_efficientnet_b0():
    assert block_strings(B0) == ["ds_r1_k3_s1_e1_c16_se0.25", "ir_r2_k3_s2_e6_c24_se0.25", "ir_r2_k5_s2_e6_c40_se0.25",
                                 "ir_r3_k3_s2_e6_c80_se0.25", "ir_r3_k5_s1_e6_c112_se0.25",
                                 "ir_r4_k5_s2_e6_c192_se0.25", "ir_r1_k3_s1_e6_c320_se0.25"]
    ours = timm.create_model("effnet", arch=B0)
    ref = timm.create_model("efficientnet_b0")
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    assert count(B0).params == 5_288_548 and count(B0).macs == 385_814_752


def _thop_extra(model: nn.Module) -> int:
    """What thop adds to conv/linear MACs, measured on the real network with hooks."""
    extra = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: extra.append(BN_OPS * out[0].numel()))
             for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    pools = [m for m in model.modules() if isinstance(m, SqueezeExcite)] + [model.global_pool]
    hooks += [m.register_forward_hook(lambda _m, inp, _o: extra.append((inp[0][0, 0].numel() + 1) * inp[0].shape[1]))
              for m in pools]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    return sum(extra)


@pytest.mark.parametrize("arch", SAMPLE)
def test_analytic_counts_equal_the_built_network(arch):
    model = SPACE.create_model(arch, "imagenet")
    measured = measure_complexity(model, (3, 224, 224))
    analytic = count(arch)
    assert measured.params == analytic.params == sum(p.numel() for p in model.parameters())
    assert measured.macs == analytic.macs
    assert measured.macs + _thop_extra(model) == analytic.macs_thop
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_every_shipped_record_is_reproduced():
    records = effnet_records()
    assert len(records) == 4282
    counts = [count(a) for a in records.archs]
    params = np.array([c.params for c in counts]) / 1e6
    macs = np.array([c.macs_thop for c in counts]) / 1e6
    assert np.abs(params / records.column("params_m") - 1).max() < 1e-4  # the records round to 5 decimals
    assert np.abs(macs / records.column("macs_m") - 1).max() < 1e-4


def test_relu_variant():
    model = timm.create_model("effnet", arch=SAMPLE[1], act_layer="relu")
    acts = {type(m) for m in model.modules() if isinstance(m, (nn.ReLU, nn.SiLU))}
    assert acts == {nn.ReLU}


def test_features_count_the_layers():
    archs = SAMPLE + SPACE.random_archs(50, np.random.default_rng(3))
    counts = layer_counts(archs)
    keys = [v.key for v in layer_variants()]
    assert len(keys) == len(set(keys)) == 168
    for arch, row in zip(archs, counts):
        expected = np.zeros(len(keys))
        for layer in mbconv_layers(arch):
            expected[keys.index(layer.key)] += 1
        assert np.array_equal(row, expected)
    feats = arch_features(archs)
    se_on = np.array([sum(c.se for c in SPACE.stages(a)) for a in archs])
    assert feats.shape == (len(archs), 92) and np.array_equal(feats[:, :64].sum(1), 3 * 7 + se_on)
