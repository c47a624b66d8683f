import numpy as np
import pytest

from hwdiff.data import nb201_benchmark
from hwdiff.errors import InvalidArchError
from hwdiff.spaces import get_space
from hwdiff.spaces.nb201 import OPS, nb201_order

SPACE = get_space("nb201")
BEST_C100 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_every_cell_round_trips_through_the_graph():
    archs = SPACE.enumerate()
    assert len(archs) == 15625 == SPACE.size
    assert len(set(archs)) == 15625
    nodes, edges = SPACE.encode(archs)
    assert nodes.shape == (15625, 8, 1) and edges.shape == (15625, 8, 8)
    assert SPACE.decode(nodes, edges) == archs
    assert all(SPACE.canonical(a) == a for a in archs)


def test_enumeration_is_the_benchmark_index_order():
    # The shipped table stores the checksum of the CSV's arch column, made by the converter.
    assert SPACE.order_checksum == nb201_benchmark().checksum
    order = nb201_order()
    assert order[0] == "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    assert SPACE.index(BEST_C100) == 9930


def test_graph_is_the_ops_on_nodes_dag():
    adj = SPACE.graph_spec.fixed_edges
    assert np.all(np.tril(adj) == 0), "edges point forward"
    assert list(adj[0].nonzero()[0]) == [1, 2, 4]  # input feeds the ops reading cell node 0
    assert list(adj[:, 7].nonzero()[0]) == [4, 5, 6]  # ops writing cell node 3 feed the output
    assert list(adj[1].nonzero()[0]) == [3, 5]  # op 1<-0 feeds ops 2<-1 and 3<-1
    assert SPACE.graph_spec.free_nodes == tuple(range(1, 7))


def test_canonical_sorts_inputs_and_strips_space():
    messy = " |nor_conv_3x3~0|+|nor_conv_3x3~1|nor_conv_3x3~0|+|nor_conv_3x3~2|skip_connect~0|nor_conv_3x3~1| "
    assert SPACE.canonical(messy) == BEST_C100


@pytest.mark.parametrize("bad, message", [
    ("", "empty"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 node groups"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_5x5'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "wrong edge indices"),
    ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "wrong edge indices"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "wrong edge indices"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~j'"),
    ("none~0+none~0|none~1+none~0|none~1|none~2", "must look like"),
])
def test_bad_strings_are_rejected_with_a_reason(bad, message):
    with pytest.raises(InvalidArchError, match=message):
        SPACE.canonical(bad)


def test_invalid_graphs_decode_to_none():
    nodes, edges = SPACE.encode([BEST_C100])
    broken = edges.copy()
    broken[0, 0, 7] = 1
    assert SPACE.decode(nodes, broken) == [None]
    out_of_range = nodes.copy()
    out_of_range[0, 3, 0] = len(OPS)
    assert SPACE.decode(out_of_range, edges) == [None]


def test_mutation_changes_exactly_one_op():
    rng = np.random.default_rng(0)
    for arch in SPACE.random_archs(50, rng):
        child = SPACE.mutate(arch, rng)
        diff = sum(a != b for a, b in zip(SPACE.ops(arch), SPACE.ops(child)))
        assert diff == 1
