"""Search spaces: what an architecture is. Each space is one module behind ``SearchSpace``."""

from __future__ import annotations

from hwdiff.spaces.base import DatasetInfo, GraphSpec, LatencyFeatures, NodeAttribute, SearchSpace
from hwdiff.spaces.registry import get_space, register_space, space_names

__all__ = ["DatasetInfo", "GraphSpec", "LatencyFeatures", "NodeAttribute", "SearchSpace", "get_space",
           "register_space", "space_names"]
