"""Fixed-length encodings of nb201 cells for latency models (``SearchSpace.latency_features``).

``edge_op_counts``: a one-hot of the op on each of the 6 edges (30 terms: what an additive latency
model weighs). ``edge_op_pairs``: the products of two edges' one-hots (15 edge pairs x 25 op pairs):
what is not additive, e.g. a conv whose input is zero because every path to it starts with ``none``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from hwdiff.spaces.nb201.space import EDGES, OPS, parse_ops

FEATURES_VERSION = "nb201-edge-ops-v1"
_OP_INDEX = {op: k for k, op in enumerate(OPS)}
_EDGE_PAIRS = tuple(itertools.combinations(range(len(EDGES)), 2))


def edge_op_terms() -> list[str]:
    return [f"edge{e}:{op}" for e in range(len(EDGES)) for op in OPS]


def _op_indices(archs: Sequence[str]) -> np.ndarray:
    return np.array([[_OP_INDEX[op] for op in parse_ops(a)] for a in archs], dtype=np.int64).reshape(-1, len(EDGES))


def edge_op_counts(archs: Sequence[str]) -> np.ndarray:
    """Float64 ``[B, 30]``: 1 where edge ``e`` carries op ``k`` (column ``e * 5 + k``)."""
    ops = _op_indices(archs)
    out = np.zeros((len(ops), len(EDGES) * len(OPS)))
    for e in range(len(EDGES)):
        out[np.arange(len(ops)), e * len(OPS) + ops[:, e]] = 1.0
    return out


def edge_op_pairs(archs: Sequence[str]) -> np.ndarray:
    """Float32 ``[B, 375]``: for each edge pair (i < j), a one-hot of the pair of ops they carry."""
    ops = _op_indices(archs)
    k = len(OPS)
    out = np.zeros((len(ops), len(_EDGE_PAIRS) * k * k), dtype=np.float32)
    rows = np.arange(len(ops))
    for p, (i, j) in enumerate(_EDGE_PAIRS):
        out[rows, p * k * k + ops[:, i] * k + ops[:, j]] = 1.0
    return out
