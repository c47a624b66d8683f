"""The registry of search spaces, in timm's style: ``@register_space``, ``get_space``, ``space_names``.

The shipped spaces register when their package is first imported; ``get_space`` imports it on first
use, so importing ``hwdiff.spaces`` costs neither torch nor timm.
"""

from __future__ import annotations

import importlib

from hwdiff.errors import HwdiffError
from hwdiff.spaces.base import SearchSpace

_SPACES: dict[str, type[SearchSpace]] = {}
_INSTANCES: dict[str, SearchSpace] = {}  # one per name: what a space caches (its order checksum) is kept
_SHIPPED = {"nb201": "hwdiff.spaces.nb201", "effnet": "hwdiff.spaces.effnet"}  # name -> package registering it


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: make ``get_space(cls.name)`` return an instance of ``cls``."""
    _SPACES[cls.name] = cls
    _INSTANCES.pop(cls.name, None)  # registering another space keeps every other space's instance
    return cls


def space_names() -> list[str]:
    return list(dict.fromkeys([*_SHIPPED, *_SPACES]))


def get_space(name: str) -> SearchSpace:
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in _SPACES and name in _SHIPPED:
        importlib.import_module(_SHIPPED[name])
    try:
        space = _SPACES[name]()
    except KeyError:
        raise HwdiffError(f"unknown space {name!r}; accepted: {', '.join(space_names())}") from None
    _INSTANCES[name] = space
    return space
