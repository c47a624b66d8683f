"""The interface every search space implements, and the graph encoding it exposes to diffusion."""

from __future__ import annotations

import abc
import functools
import hashlib
import importlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from hwdiff.data.oracle import AccuracyOracle


def arch_text(arch: object, expected: str) -> str:
    """An architecture string stripped and lower-cased (upper case is accepted on purpose; the commands print the
    canonical string). ASCII only, so that no other script's digits or letters (``~٠``, ``e１k3``, the Kelvin
    sign) stand silently for canonical ones; raises ``InvalidArchError`` naming ``expected``."""
    from hwdiff.errors import InvalidArchError

    if not isinstance(arch, str) or not arch.strip():
        raise InvalidArchError(f"empty architecture string; expected {expected}")
    text = arch.strip()
    if not text.isascii():
        other = next(c for c in text if not c.isascii())
        raise InvalidArchError(f"architecture {text!r} has the non-ASCII character {other!r}; expected {expected}")
    return text.lower()

@dataclass(frozen=True)
class NodeAttribute:
    """One categorical attribute carried by every node (an op, a kernel size, ...)."""

    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class GraphSpec:
    """Fixed-size graph encoding of a space.

    A graph is ``nodes`` (int, ``[num_nodes, num_attributes]``, category indices) and ``edges``
    (int, ``[num_nodes, num_nodes]``, category of the directed edge ``i -> j``). Only
    ``free_nodes`` are generated; fixed nodes keep category 0. When ``fixed_edges`` is given the
    adjacency is part of the space and never generated; otherwise the ordered pairs marked in
    ``free_edge_mask`` are. ``allowed`` optionally restricts, per attribute, which categories a
    node may take (``[num_nodes, num_categories]`` booleans).
    """

    num_nodes: int
    node_attributes: tuple[NodeAttribute, ...]
    edge_categories: tuple[str, ...]
    free_nodes: tuple[int, ...]
    fixed_edges: np.ndarray | None = None
    free_edge_mask: np.ndarray | None = None
    allowed: tuple[np.ndarray, ...] | None = None
    node_names: tuple[str, ...] = field(default=())

    @property
    def node_mask(self) -> np.ndarray:
        """Booleans ``[num_nodes]``: which nodes are generated."""
        mask = np.zeros(self.num_nodes, dtype=bool)
        mask[list(self.free_nodes)] = True
        return mask

    @property
    def edge_mask(self) -> np.ndarray:
        """Booleans ``[num_nodes, num_nodes]``: which ordered pairs are generated."""
        if self.free_edge_mask is not None:
            return self.free_edge_mask.astype(bool)
        return np.zeros((self.num_nodes, self.num_nodes), dtype=bool)

    def allowed_mask(self, attribute: int) -> np.ndarray:
        """Booleans ``[num_nodes, num_categories]`` of the categories each node may take."""
        k = len(self.node_attributes[attribute].categories)
        if self.allowed is None:
            return np.ones((self.num_nodes, k), dtype=bool)
        return self.allowed[attribute].astype(bool)


@dataclass(frozen=True)
class LutLayer:
    """One entry of a latency lookup table: a layer of the space's networks at one input shape.

    ``repeatable`` layers keep their input shape, so ``hwdiff profile`` times a chain of copies and
    keeps the marginal cost of one (no call overhead, no layout conversions at the chain's ends).

    A *context* entry (``parts`` given) is a block made of other entries whose cost is not their sum
    on backends that rewrite whole graphs (fusion, layout changes, shared subexpressions). Its value
    is the interaction: the block's marginal cost minus its parts' entries, minus the same for the
    ``reference`` block (the same context without what the entry is about; a reference names
    itself and is 0). Eager backends run layer by layer and skip context entries.
    """

    key: str
    description: str
    input_shape: tuple[int, ...]  # one sample, e.g. (C, H, W)
    build: Callable[[], nn.Module] = field(compare=False, repr=False)
    repeatable: bool = False
    parts: tuple[tuple[str, int], ...] = ()  # (key, count) of the entries the block is made of
    reference: str | None = None

    @property
    def is_context(self) -> bool:
        return bool(self.parts)


@dataclass(frozen=True)
class LatencyFeatures:
    """How a space's architectures enter a model profile (``hwdiff.hardware.model_profile``): additive
    terms and dense features."""

    version: str
    terms: Callable[[], list[str]]
    additive: Callable[[Sequence[str]], np.ndarray]  # [B, T] counts of each term
    dense: Callable[[Sequence[str]], np.ndarray]  # [B, F] residual-model inputs


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    input_size: tuple[int, int, int]
    description: str


class SearchSpace(abc.ABC):
    """A family of networks. Architectures travel as canonical strings.

    Everything hwdiff knows about a space is reached through it: its datasets, its default device,
    its accuracy oracle, its latency features and lookup-table layers, which architectures are
    equivalent, how its networks are built and what ``hwdiff build`` says about them.
    """

    name: str
    description: str
    datasets: dict[str, DatasetInfo]
    graph_spec: GraphSpec
    default_device: str = "cpu"  # the device commands use when none is given (one whose profile ships)
    # The module whose import registers the space's networks with timm: imported on the first build,
    # so looking a space up (listing profiles, parsing archs) costs neither torch nor timm.
    network_module: str | None = None

    # -- strings -------------------------------------------------------------------------------
    @abc.abstractmethod
    def canonical(self, arch: str) -> str:
        """Validate ``arch`` and return its canonical string; raise ``InvalidArchError`` otherwise."""

    def is_valid(self, arch: str) -> bool:
        try:
            self.canonical(arch)
        except ValueError:
            return False
        return True

    # -- graphs --------------------------------------------------------------------------------
    @abc.abstractmethod
    def encode(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Architectures -> (nodes ``[B, N, A]``, edges ``[B, N, N]``) category indices."""

    @abc.abstractmethod
    def decode(self, nodes: np.ndarray, edges: np.ndarray) -> list[str | None]:
        """Graphs -> canonical strings, ``None`` for a graph that is not a valid architecture."""

    # -- the space as a set --------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Number of architectures in the space."""

    def enumerate(self) -> list[str] | None:
        """Every architecture in the space's own index order, or ``None`` if it is too large."""
        return None

    @functools.cached_property
    def order_checksum(self) -> str | None:
        """SHA-256 of ``enumerate()`` joined by newlines: pins the index order of shipped tables."""
        archs = self.enumerate()
        return hashlib.sha256("\n".join(archs).encode()).hexdigest() if archs is not None else None

    @abc.abstractmethod
    def random_archs(self, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` architectures drawn uniformly from the space."""

    @abc.abstractmethod
    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """A different architecture that differs from ``arch`` in one choice."""

    # -- networks ------------------------------------------------------------------------------
    @property
    def default_dataset(self) -> str:
        """The dataset commands use when none is given: the space's first (nb201: cifar10)."""
        return next(iter(self.datasets))

    def dataset_name(self, name: str | None) -> str:
        """``name`` checked; ``None`` (not given) is the default, "" is a name like any other: refused."""
        if name is None:
            return self.default_dataset
        self.dataset(name)
        return name

    def dataset(self, name: str) -> DatasetInfo:
        from hwdiff.errors import HwdiffError

        try:
            return self.datasets[name]
        except KeyError:
            accepted = ", ".join(self.datasets)
            raise HwdiffError(
                f"unknown dataset {name!r} for space {self.name!r}; accepted: {accepted}"
            ) from None

    # -- what is known about architectures -----------------------------------------------------
    def accuracy_oracle(self, dataset: str) -> AccuracyOracle:
        """Where the accuracy of this space's architectures on ``dataset`` comes from (a table, a predictor)."""
        self.dataset(dataset)
        return self._accuracy_oracle(dataset)

    def _accuracy_oracle(self, dataset: str) -> AccuracyOracle:
        from hwdiff.errors import HwdiffError

        raise HwdiffError(f"no accuracy data for space {self.name!r}")

    def equivalence(self) -> Callable[[str], Hashable] | None:
        """A key equal for architectures computing the same function, where the space knows one."""
        return None

    def latency_features(self) -> LatencyFeatures | None:
        """The features a fitted latency model (``model`` profiles) reads, if the space has them."""
        return None

    def build_details(self, arch: str) -> dict[str, Any]:
        """Space-specific facts ``hwdiff build`` prints beside params and MACs."""
        return {}

    @abc.abstractmethod
    def timm_name(self, dataset: str) -> str:
        """The timm model name (with pretrained tag) that builds this space's networks."""

    def create_model(self, arch: str, dataset: str, **kwargs):
        """The ``torch.nn.Module`` for ``arch``, built through ``timm.create_model``."""
        import timm

        if self.network_module is not None:
            importlib.import_module(self.network_module)
        self.dataset(dataset)
        return timm.create_model(self.timm_name(dataset), arch=self.canonical(arch), **kwargs)

    def param_count(self, arch: str, dataset: str) -> int:
        """Parameters of ``arch``'s network (spaces with a closed form override this; default: build it,
        once per architecture and dataset -- searches and ``hwdiff eval`` ask again for the same ones)."""
        return _built_param_count(self, arch, dataset)

    # -- latency lookup tables (optional) ------------------------------------------------------
    def lut_layers(self, dataset: str) -> list[LutLayer]:
        """Every layer a lookup table needs to predict any network of the space on ``dataset``."""
        raise self._no_lut()

    def lut_usage(self, arch: str, dataset: str, context: bool = False) -> dict[str, int]:
        """How many times the network of ``arch`` runs each ``lut_layers`` entry (by key).

        ``context``: include the context entries (for tables of graph-rewriting backends).
        """
        raise self._no_lut()

    def _no_lut(self) -> Exception:
        from hwdiff.errors import HwdiffError

        return HwdiffError(f"space {self.name!r} does not list its layers, so it has no lookup-table profile; "
                           "import whole-network measurements with `hwdiff profile --from-table FILE`")


@functools.lru_cache(maxsize=4096)
def _built_param_count(space: SearchSpace, arch: str, dataset: str) -> int:
    return sum(p.numel() for p in space.create_model(arch, dataset).parameters())
