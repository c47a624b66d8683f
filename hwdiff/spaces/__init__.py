"""Search spaces: what an architecture is. Each space is one module behind ``SearchSpace``."""

from __future__ import annotations

import functools

from hwdiff.errors import HwdiffError
from hwdiff.spaces.base import DatasetInfo, GraphSpec, NodeAttribute, SearchSpace
from hwdiff.spaces.effnet import EffNetSpace
from hwdiff.spaces.nb201 import NB201Space

_SPACES: dict[str, type[SearchSpace]] = {"nb201": NB201Space, "effnet": EffNetSpace}


def space_names() -> list[str]:
    return list(_SPACES)


@functools.cache
def get_space(name: str) -> SearchSpace:
    try:
        return _SPACES[name]()
    except KeyError:
        raise HwdiffError(f"unknown space {name!r}; accepted: {', '.join(_SPACES)}") from None


__all__ = ["DatasetInfo", "GraphSpec", "NodeAttribute", "SearchSpace", "get_space", "space_names"]
