"""The ``effnet`` space: EfficientNet-B0 skeleton, one choice of MBConv per stage (Accel-NASBench).

Seven MBConv stages with fixed strides and widths; per stage an expansion ratio {1, 4, 6}, a
depthwise kernel {3, 5}, a number of layers {1, 2, 3} ({1, 2, 3, 4} in the 192-channel stage: stage 6
counting from 1, Accel-NASBench's ``block5``) and squeeze-excite on/off: 36^6 * 48, about 1.0e11
networks. Stages are numbered from 1 in messages and docs. An architecture is written as its 7
stages joined by ``-``, each ``e{E}k{K}l{L}`` plus ``s`` when squeeze-excite is on; EfficientNet-B0
is ``e1k3l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s``.

Graph form: one node per stage carrying four categorical attributes (expansion, kernel, layers,
se), a fixed directed chain ``stage i -> stage i+1``; ``allowed`` masks 4 layers to node 5 (0-based),
the 192-channel stage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwdiff.errors import InvalidArchError
from hwdiff.spaces.base import DatasetInfo, GraphSpec, LatencyFeatures, LutLayer, NodeAttribute, SearchSpace, arch_text
from hwdiff.spaces.registry import register_space

if TYPE_CHECKING:
    from hwdiff.data.oracle import AccuracyOracle

NUM_STAGES = 7
STRIDES = (1, 2, 2, 2, 1, 2, 1)
OUT_CHANNELS = (16, 24, 40, 80, 112, 192, 320)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
IN_CHANNELS = (STEM_CHANNELS,) + OUT_CHANNELS[:-1]
IMAGE_SIZE = 224

EXPANSIONS = (1, 4, 6)
KERNELS = (3, 5)
LAYERS = (1, 2, 3, 4)
DEEP_STAGE = 5  # 0-based index of the 192-channel stage (block5), the only one that may have 4 layers
# Per attribute (expansion, kernel, layers, se): the values each stage may take.
ATTRIBUTES = ("expansion", "kernel", "layers", "se")
VALUES: tuple[tuple[int, ...], ...] = (EXPANSIONS, KERNELS, LAYERS, (0, 1))

B0 = "e1k3l1s-e6k3l2s-e6k5l2s-e6k3l3s-e6k5l3s-e6k5l4s-e6k3l1s"
_STAGE_RE = re.compile(r"e(\d+)k(\d+)l(\d+)(s?)")
_FORMAT_HINT = "7 stages joined by '-', each e{1,4,6}k{3,5}l{1,2,3} plus 's' for squeeze-excite (l4 only in stage 6)"


def layer_choices(stage: int) -> tuple[int, ...]:
    """Numbers of layers stage ``stage`` (0-based) may have."""
    return LAYERS if stage == DEEP_STAGE else LAYERS[:-1]


@dataclass(frozen=True)
class StageChoice:
    """What one stage is: expansion ratio, depthwise kernel, number of layers, squeeze-excite."""

    expansion: int
    kernel: int
    layers: int
    se: bool

    def __str__(self) -> str:
        return f"e{self.expansion}k{self.kernel}l{self.layers}{'s' if self.se else ''}"


def format_arch(stages: Sequence[StageChoice]) -> str:
    return "-".join(str(s) for s in stages)


def _parse_stage(text: str, stage: int, arch: str) -> StageChoice:
    match = _STAGE_RE.fullmatch(text)
    if match is None:
        raise InvalidArchError(f"stage {stage + 1} {text!r} of effnet arch {arch!r} is malformed; "
                               f"expected {_FORMAT_HINT}")
    e, k, n = (int(g) for g in match.groups()[:3])
    if e not in EXPANSIONS:
        raise InvalidArchError(f"stage {stage + 1} of effnet arch {arch!r}: expansion {e} is not a choice; "
                               f"accepted: {', '.join(map(str, EXPANSIONS))}")
    if k not in KERNELS:
        raise InvalidArchError(f"stage {stage + 1} of effnet arch {arch!r}: kernel {k} is not a choice; "
                               f"accepted: {', '.join(map(str, KERNELS))}")
    if n not in layer_choices(stage):
        raise InvalidArchError(f"stage {stage + 1} of effnet arch {arch!r}: {n} layers is not a choice; accepted: "
                               f"{', '.join(map(str, layer_choices(stage)))} (4 only in stage {DEEP_STAGE + 1})")
    return StageChoice(e, k, n, bool(match.group(4)))


def parse_arch(arch: str) -> tuple[StageChoice, ...]:
    """The 7 stage choices of an effnet string, validated; raises ``InvalidArchError``."""
    text = arch_text(arch, f"{_FORMAT_HINT}, e.g. {B0!r}")
    parts = text.split("-")
    if len(parts) != NUM_STAGES:
        raise InvalidArchError(f"effnet arch {arch.strip()!r} has {len(parts)} stage(s); expected {_FORMAT_HINT}, "
                               f"e.g. {B0!r}")
    return tuple(_parse_stage(p, s, arch.strip()) for s, p in enumerate(parts))


# Every stage token ("e6k3l2s") and its values, for the fast paths of arch_values / format_values.
_TOKENS = {str(StageChoice(e, k, n, bool(se))): (e, k, n, se)
           for e in EXPANSIONS for k in KERNELS for n in LAYERS for se in (0, 1)}
_TOKEN_OF = {v: t for t, v in _TOKENS.items()}


def arch_values(archs: Sequence[str]) -> np.ndarray:
    """Int array ``[B, 7, 4]``: expansion, kernel, layers, se (0/1) of each stage (what features use).

    Canonical strings are split and looked up; anything else goes through ``parse_arch`` (which
    validates and raises ``InvalidArchError``).
    """
    out = np.empty((len(archs), NUM_STAGES, len(ATTRIBUTES)), dtype=np.int64)
    for b, arch in enumerate(archs):
        rows = [_TOKENS.get(t) for t in arch.split("-")] if isinstance(arch, str) else []
        if len(rows) == NUM_STAGES and all(r and (r[2] != 4 or s == DEEP_STAGE) for s, r in enumerate(rows)):
            out[b] = rows
        else:
            out[b] = [(c.expansion, c.kernel, c.layers, int(c.se)) for c in parse_arch(arch)]
    return out


def format_values(values: np.ndarray) -> list[str]:
    """Inverse of ``arch_values`` (no validation)."""
    return ["-".join(_TOKEN_OF[tuple(stage)] for stage in row) for row in np.asarray(values).tolist()]


def block_strings(arch: str) -> list[str]:
    """timm EfficientNet block strings, one per stage (``ir_r2_k5_s2_e6_c40_se0.25``).

    Expansion 1 becomes timm's ``ds`` (depthwise-separable) block: like torchvision's MBConv with
    expand ratio 1, it has no 1x1 expansion conv. ``se0.25`` is relative to the block's *input*
    channels (timm's default for EfficientNet), i.e. ``in_chs // 4`` squeeze channels, as the
    Accel-NASBench networks have.
    """
    out = []
    for s, c in enumerate(parse_arch(arch)):
        kind = "ds" if c.expansion == 1 else "ir"
        se = "_se0.25" if c.se else ""
        out.append(f"{kind}_r{c.layers}_k{c.kernel}_s{STRIDES[s]}_e{c.expansion}_c{OUT_CHANNELS[s]}{se}")
    return out


def _allowed() -> tuple[np.ndarray, ...]:
    masks = []
    for values in VALUES:
        masks.append(np.ones((NUM_STAGES, len(values)), dtype=bool))
    masks[2][:, LAYERS.index(4)] = False
    masks[2][DEEP_STAGE, LAYERS.index(4)] = True
    return tuple(masks)


def _chain() -> np.ndarray:
    adj = np.zeros((NUM_STAGES, NUM_STAGES), dtype=np.int64)
    adj[np.arange(NUM_STAGES - 1), np.arange(1, NUM_STAGES)] = 1
    return adj


@register_space
class EffNetSpace(SearchSpace):
    name = "effnet"
    network_module = "hwdiff.spaces.effnet.network"
    default_device = "a100"  # a fitted latency model ships for it
    description = "EfficientNet-B0 skeleton, per-stage MBConv choices (Accel-NASBench), about 1.0e11 networks"
    datasets = {"imagenet": DatasetInfo("imagenet", 1000, (3, IMAGE_SIZE, IMAGE_SIZE), "ImageNet-1k, 224x224")}
    graph_spec = GraphSpec(
        num_nodes=NUM_STAGES,
        node_attributes=(
            NodeAttribute("expansion", tuple(map(str, EXPANSIONS))),
            NodeAttribute("kernel", tuple(map(str, KERNELS))),
            NodeAttribute("layers", tuple(map(str, LAYERS))),
            NodeAttribute("se", ("off", "on")),
        ),
        edge_categories=("none", "edge"),
        free_nodes=tuple(range(NUM_STAGES)),
        fixed_edges=_chain(),
        allowed=_allowed(),
        node_names=tuple(f"stage{s + 1}" for s in range(NUM_STAGES)),
    )

    def canonical(self, arch: str) -> str:
        return format_arch(parse_arch(arch))

    def stages(self, arch: str) -> tuple[StageChoice, ...]:
        return parse_arch(arch)

    def encode(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        values = arch_values(archs)
        nodes = np.empty_like(values)
        for a, choices in enumerate(VALUES):
            lookup = np.full(max(choices) + 1, -1, dtype=np.int64)
            lookup[list(choices)] = np.arange(len(choices))
            nodes[..., a] = lookup[values[..., a]]
        edges = np.broadcast_to(self.graph_spec.fixed_edges, (len(archs), NUM_STAGES, NUM_STAGES))
        return nodes, edges.copy()

    def decode(self, nodes: np.ndarray, edges: np.ndarray) -> list[str | None]:
        nodes = np.asarray(nodes)
        edges = np.asarray(edges)
        spec = self.graph_spec
        ok = (edges == spec.fixed_edges).all(axis=(1, 2))
        for a, choices in enumerate(VALUES):
            idx = nodes[..., a]
            in_range = (idx >= 0) & (idx < len(choices))
            allowed = spec.allowed_mask(a)[np.arange(NUM_STAGES), np.clip(idx, 0, len(choices) - 1)]
            ok &= (in_range & allowed).all(axis=1)
        values = np.stack([np.asarray(VALUES[a])[np.clip(nodes[..., a], 0, len(VALUES[a]) - 1)]
                           for a in range(len(VALUES))], axis=-1)
        strings = format_values(values)
        return [s if good else None for s, good in zip(strings, ok)]

    @property
    def size(self) -> int:
        total = 1
        for s in range(NUM_STAGES):
            total *= len(EXPANSIONS) * len(KERNELS) * len(layer_choices(s)) * 2
        return total

    def random_archs(self, n: int, rng: np.random.Generator) -> list[str]:
        cols = []
        for s in range(NUM_STAGES):
            cols.append(np.stack([
                rng.choice(EXPANSIONS, size=n), rng.choice(KERNELS, size=n),
                rng.choice(layer_choices(s), size=n), rng.integers(0, 2, size=n)], axis=-1))
        return format_values(np.stack(cols, axis=1))

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        stages = list(parse_arch(arch))
        s = int(rng.integers(NUM_STAGES))
        attribute = ATTRIBUTES[int(rng.integers(len(ATTRIBUTES)))]
        current = getattr(stages[s], attribute)
        values = {"expansion": EXPANSIONS, "kernel": KERNELS, "layers": layer_choices(s), "se": (False, True)}
        others = [v for v in values[attribute] if v != current]
        new = others[int(rng.integers(len(others)))]
        fields = {a: getattr(stages[s], a) for a in ATTRIBUTES}
        fields[attribute] = new
        stages[s] = StageChoice(**fields)
        return format_arch(stages)

    def _accuracy_oracle(self, dataset: str) -> AccuracyOracle:
        from hwdiff.data.effnet_predictor import EffNetPredictedAccuracy

        return EffNetPredictedAccuracy(dataset)

    def latency_features(self) -> LatencyFeatures:
        from hwdiff.spaces.effnet.features import FEATURES_VERSION, arch_features, layer_counts
        from hwdiff.spaces.effnet.layers import layer_variants

        return LatencyFeatures(FEATURES_VERSION, lambda: [v.key for v in layer_variants()], layer_counts,
                               arch_features)

    def build_details(self, arch: str) -> dict[str, Any]:
        from hwdiff.spaces.effnet.layers import count

        return {"timm_blocks": block_strings(arch), "macs_thop": count(arch).macs_thop}

    def timm_name(self, dataset: str) -> str:
        self.dataset(dataset)
        return f"effnet.{dataset}"

    def param_count(self, arch: str, dataset: str) -> int:
        """Counted from the block list (equal to the built network's, tested): no network is built."""
        from hwdiff.spaces.effnet.layers import count

        return count(self.canonical(arch), self.dataset(dataset).num_classes).params

    def lut_layers(self, dataset: str) -> list[LutLayer]:
        from hwdiff.spaces.effnet.lut import effnet_lut_layers

        return effnet_lut_layers(self.dataset(dataset).num_classes)

    def lut_usage(self, arch: str, dataset: str, context: bool = False) -> dict[str, int]:
        from hwdiff.spaces.effnet.lut import effnet_lut_usage  # no context entries: blocks are timed whole

        self.dataset(dataset)
        return effnet_lut_usage(arch)
