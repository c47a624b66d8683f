"""The layers of NB201 networks that a latency lookup table needs, and how often each network runs them.

Every NB201 network is the same skeleton (stem, 3 stages of 5 cells, 2 residual reductions, head);
only the 6 cell ops differ. A table therefore holds, per stage shape, each of the 5 ops plus the
cell's node sums (an all-``skip_connect`` cell, whose ops cost nothing), and the stem, the two
reductions and the head once each: 22 entries. A network's summed latency is

    stem + reductions + head + sum over stages of 5 x (cell sums + its 6 ops at that stage).

That sum is exact for eager execution. Graph compilers do more: ONNX Runtime's CPU provider, for
one, fuses each conv with the sum it feeds and keeps tensors in a blocked layout between convs,
and the ``none`` op (``x * 0``) leaves that layout, so it costs reorders that depend on where the
zeros sit, and identical ``x * 0`` of one node are computed once. For those backends the table
also holds *context* entries: per stage, for each of the 63 patterns of ``none`` edges, the
interaction (cell measured minus its entries) of a cell with that pattern, relative to the same
cell without zeros; measured with ``nor_conv_1x1`` on the other edges for cells that contain a
conv, with ``skip_connect`` for cells that do not (no conv, no blocked layout). 384 entries.
"""

from __future__ import annotations

import itertools
from collections import Counter

from torch import nn

from hwdiff.spaces.base import LutLayer
from hwdiff.spaces.nb201.network import (
    CELLS_PER_STAGE,
    STAGE_CHANNELS,
    NB201Cell,
    ResidualReduction,
    make_op,
)
from hwdiff.spaces.nb201.space import EDGES, OPS, parse_ops


def _head(channels: int, num_classes: int) -> nn.Module:
    """The network's head: BN-ReLU, global average pooling, linear classifier."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
                         nn.Linear(channels, num_classes))


def _stem(in_chans: int, channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_chans, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))


def stage_shapes(input_size: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """(C, H, W) at the input of each stage's cells."""
    _, h, w = input_size
    return [(c, -(-h // 2**s), -(-w // 2**s)) for s, c in enumerate(STAGE_CHANNELS)]


def nb201_lut_layers(input_size: tuple[int, int, int], num_classes: int) -> list[LutLayer]:
    in_chans, h, w = input_size
    shapes = stage_shapes(input_size)
    layers = [LutLayer("stem", f"conv3x3-BN {in_chans}->{STAGE_CHANNELS[0]} at {h}x{w}", input_size,
                       lambda: _stem(in_chans, STAGE_CHANNELS[0]))]
    for s, (c, sh, sw) in enumerate(shapes):
        if s > 0:
            prev = shapes[s - 1]
            what = f"residual reduction {prev[0]}->{c}, {prev[1]}x{prev[2]}->{sh}x{sw}"
            layers.append(LutLayer(f"reduction{s}", what, prev, lambda p=prev[0], c=c: ResidualReduction(p, c)))
        layers.append(LutLayer(f"stage{s}.cell", f"cell node sums (all-skip cell) at {c}x{sh}x{sw}", (c, sh, sw),
                               lambda c=c: NB201Cell(("skip_connect",) * len(EDGES), c), repeatable=True))
        for op in OPS:
            layers.append(LutLayer(f"stage{s}.{op}", f"{op} at {c}x{sh}x{sw}", (c, sh, sw),
                                   lambda op=op, c=c: make_op(op, c), repeatable=True))
    last = shapes[-1]
    layers.append(LutLayer("head", f"BN-ReLU-avgpool-linear {last[0]}->{num_classes} at {last[1]}x{last[2]}", last,
                           lambda: _head(last[0], num_classes)))
    for s, shape in enumerate(shapes):
        layers.extend(_context_layers(s, shape))
    return layers


# Context of the zero-pattern entries: what fills the non-``none`` edges.
CONTEXT_FILL = {"conv": "nor_conv_1x1", "noconv": "skip_connect"}
NO_ZEROS = "0" * len(EDGES)


def _context_key(stage: int, context: str, mask: str) -> str:
    return f"stage{stage}.zeros-{context}.{mask}"


def _context_layers(stage: int, shape: tuple[int, int, int]) -> list[LutLayer]:
    c, h, w = shape
    out = []
    for context, fill in CONTEXT_FILL.items():
        for bits in itertools.product("01", repeat=len(EDGES)):
            mask = "".join(bits)
            ops = tuple("none" if b == "1" else fill for b in bits)
            parts = ((f"stage{stage}.cell", 1),) + tuple(sorted(Counter(f"stage{stage}.{op}" for op in ops).items()))
            out.append(LutLayer(
                _context_key(stage, context, mask), f"cell {'|'.join(ops)} at {c}x{h}x{w} (zeros in context)",
                shape, lambda ops=ops, c=c: NB201Cell(ops, c), repeatable=True, parts=parts,
                reference=_context_key(stage, context, NO_ZEROS)))
    return out


def nb201_lut_usage(arch: str, context: bool = False) -> dict[str, int]:
    ops = parse_ops(arch)
    counts = Counter(ops)
    usage = {"stem": 1, "head": 1}
    mask = "".join("1" if op == "none" else "0" for op in ops)
    cell_context = "conv" if any(op.startswith("nor_conv") for op in ops) else "noconv"
    for s in range(len(STAGE_CHANNELS)):
        if s > 0:
            usage[f"reduction{s}"] = 1
        usage[f"stage{s}.cell"] = CELLS_PER_STAGE
        for op, n in counts.items():
            usage[f"stage{s}.{op}"] = CELLS_PER_STAGE * n
        if context and mask != NO_ZEROS:
            usage[_context_key(s, cell_context, mask)] = CELLS_PER_STAGE
    return usage
