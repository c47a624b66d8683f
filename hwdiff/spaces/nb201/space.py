"""NAS-Bench-201 cells: strings, the ops-on-nodes graph, and the benchmark's index order.

A cell has 4 nodes; node ``i`` sums one op applied to every earlier node ``j``, written
``|op~j|`` in NB201's strings, e.g. ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|``.
The graph form puts the 6 ops on nodes (DiNAS / AG-Net): node 0 is the cell input, nodes 1-6 are
the 6 edges in string order, node 7 is the cell output, with a fixed directed adjacency.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hwdiff.errors import InvalidArchError
from hwdiff.spaces.base import DatasetInfo, GraphSpec, LatencyFeatures, LutLayer, NodeAttribute, SearchSpace, arch_text
from hwdiff.spaces.registry import register_space

if TYPE_CHECKING:
    from hwdiff.data.oracle import AccuracyOracle

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) of the 6 cell edges, in NB201 string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_GRAPH_NODES = len(EDGES) + 2
INPUT_NODE, OUTPUT_NODE = 0, NUM_GRAPH_NODES - 1
# NB201 shuffled its enumeration with this seed (NAS-Bench-201 `generate_meta_info`).
_NB201_SHUFFLE_SEED = 88


def _ops_on_nodes_adjacency() -> np.ndarray:
    """Directed adjacency of the ops-on-nodes graph: 1 where the output of i feeds j."""
    adj = np.zeros((NUM_GRAPH_NODES, NUM_GRAPH_NODES), dtype=np.int64)
    for e, (to_node, from_node) in enumerate(EDGES):
        op_node = e + 1
        if from_node == 0:
            adj[INPUT_NODE, op_node] = 1
        for f, (to_f, _) in enumerate(EDGES):
            if to_f == from_node:
                adj[f + 1, op_node] = 1
        if to_node == 3:
            adj[op_node, OUTPUT_NODE] = 1
    return adj


_CELL = "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|"  # node 1 from ~0; node 2 from ~0, ~1; node 3 from ~0, ~1, ~2


def format_ops(ops: Sequence[str]) -> str:
    """The NB201 string of the 6 edge ops (in ``EDGES`` order)."""
    return _CELL.format(*ops)


def parse_ops(arch: str) -> tuple[str, ...]:
    """The 6 edge ops of an NB201 string, validated; raises ``InvalidArchError``."""
    text = arch_text(arch, f"an NB201 cell like {format_ops(['nor_conv_3x3'] * 6)!r}")
    groups = text.split("+")
    if len(groups) != 3:
        raise InvalidArchError(
            f"malformed NB201 cell {text!r}: expected 3 node groups joined by '+', got {len(groups)}")
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise InvalidArchError(
                f"malformed NB201 cell {text!r}: node {node} group {group!r} must look like '|op~j|...|'")
        by_input: dict[int, str] = {}
        for entry in group[1:-1].split("|"):
            op, sep, src = entry.partition("~")
            if not sep or not src.isdigit():
                raise InvalidArchError(
                    f"malformed NB201 cell {text!r}: entry {entry!r} must be 'op~j' with j an integer")
            if op not in OPS:
                raise InvalidArchError(
                    f"unknown op {op!r} in NB201 cell {text!r}; accepted ops: {', '.join(OPS)}")
            j = int(src)
            if j >= node or j in by_input:
                raise InvalidArchError(
                    f"wrong edge indices in NB201 cell {text!r}: node {node} needs exactly one op from "
                    f"each of nodes {', '.join(f'~{i}' for i in range(node))}")
            by_input[j] = op
        if len(by_input) != node:
            raise InvalidArchError(
                f"wrong edge indices in NB201 cell {text!r}: node {node} needs exactly one op from "
                f"each of nodes {', '.join(f'~{i}' for i in range(node))}")
        ops.extend(by_input[j] for j in range(node))
    return tuple(ops)


@functools.lru_cache(maxsize=1)
def nb201_order() -> tuple[str, ...]:
    """All 15,625 cells in NAS-Bench-201 index order.

    NB201 generated the cells node by node (``CellStructure.gen_all``) and shuffled the list with
    ``random.seed(88)``; reproducing that gives the benchmark's order (checked against the shipped
    table's checksum in the tests).
    """
    cells: list[list[tuple[str, ...]]] = [[]]
    for node in (1, 2, 3):
        cells = [prev + [combo] for prev in cells for combo in itertools.product(OPS, repeat=node)]
    strings = [format_ops([op for group in cell for op in group]) for cell in cells]
    random.Random(_NB201_SHUFFLE_SEED).shuffle(strings)
    return tuple(strings)


@register_space
class NB201Space(SearchSpace):
    name = "nb201"
    network_module = "hwdiff.spaces.nb201.network"
    description = "NAS-Bench-201 cell (4 nodes, 6 edges, 5 ops), 15,625 cells"
    default_device = "pixel3"  # a measured table ships for it
    datasets = {
        "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32), "CIFAR-10, 32x32"),
        "cifar100": DatasetInfo("cifar100", 100, (3, 32, 32), "CIFAR-100, 32x32"),
        "imagenet16": DatasetInfo("imagenet16", 120, (3, 16, 16), "ImageNet16-120, 16x16"),
    }
    graph_spec = GraphSpec(
        num_nodes=NUM_GRAPH_NODES,
        node_attributes=(NodeAttribute("op", OPS),),
        edge_categories=("none", "edge"),
        free_nodes=tuple(range(1, NUM_GRAPH_NODES - 1)),
        fixed_edges=_ops_on_nodes_adjacency(),
        node_names=("input",) + tuple(f"{t}<-{f}" for t, f in EDGES) + ("output",),
    )

    def canonical(self, arch: str) -> str:
        return format_ops(parse_ops(arch))

    def ops(self, arch: str) -> tuple[str, ...]:
        return parse_ops(arch)

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {a: i for i, a in enumerate(nb201_order())}

    def index(self, arch: str) -> int:
        """The NAS-Bench-201 index of ``arch``."""
        return self._index[self.canonical(arch)]

    def indices(self, archs: Sequence[str]) -> np.ndarray:
        index = self._index
        out = np.empty(len(archs), dtype=np.int64)
        for k, a in enumerate(archs):
            i = index.get(a)
            out[k] = i if i is not None else self.index(a)
        return out

    def encode(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        op_index = {op: k for k, op in enumerate(OPS)}
        nodes = np.zeros((len(archs), NUM_GRAPH_NODES, 1), dtype=np.int64)
        for b, arch in enumerate(archs):
            nodes[b, 1:-1, 0] = [op_index[op] for op in parse_ops(arch)]
        edges = np.broadcast_to(self.graph_spec.fixed_edges, (len(archs),) + (NUM_GRAPH_NODES,) * 2)
        return nodes, edges.copy()

    def decode(self, nodes: np.ndarray, edges: np.ndarray) -> list[str | None]:
        nodes = np.asarray(nodes)
        edges = np.asarray(edges)
        fixed = self.graph_spec.fixed_edges
        out: list[str | None] = []
        for b in range(nodes.shape[0]):
            ops = nodes[b, 1:-1, 0]
            if not np.array_equal(edges[b], fixed) or ops.min() < 0 or ops.max() >= len(OPS):
                out.append(None)
                continue
            out.append(format_ops([OPS[k] for k in ops]))
        return out

    @property
    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def enumerate(self) -> list[str]:
        return list(nb201_order())

    def random_archs(self, n: int, rng: np.random.Generator) -> list[str]:
        choice = rng.integers(0, len(OPS), size=(n, len(EDGES)))
        return [format_ops([OPS[k] for k in row]) for row in choice]

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        ops = list(parse_ops(arch))
        edge = int(rng.integers(len(EDGES)))
        others = [op for op in OPS if op != ops[edge]]
        ops[edge] = others[int(rng.integers(len(others)))]
        return format_ops(ops)

    def _accuracy_oracle(self, dataset: str) -> AccuracyOracle:
        from hwdiff.data.oracle import NB201TableAccuracy

        return NB201TableAccuracy(dataset)

    def equivalence(self) -> Callable[[str], Hashable]:
        from hwdiff.data.nb201 import nb201_equivalence

        return nb201_equivalence()

    def latency_features(self) -> LatencyFeatures:
        from hwdiff.spaces.nb201.features import FEATURES_VERSION, edge_op_counts, edge_op_pairs, edge_op_terms

        return LatencyFeatures(FEATURES_VERSION, edge_op_terms, edge_op_counts, edge_op_pairs)

    def timm_name(self, dataset: str) -> str:
        self.dataset(dataset)
        return f"nb201.{dataset}"

    def lut_layers(self, dataset: str) -> list[LutLayer]:
        from hwdiff.spaces.nb201.layers import nb201_lut_layers

        info = self.dataset(dataset)
        return nb201_lut_layers(info.input_size, info.num_classes)

    def lut_usage(self, arch: str, dataset: str, context: bool = False) -> dict[str, int]:
        from hwdiff.spaces.nb201.layers import nb201_lut_usage

        self.dataset(dataset)
        return nb201_lut_usage(arch, context)
