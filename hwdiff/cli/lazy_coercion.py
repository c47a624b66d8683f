"""Typer's value checks built when a value needs one, so that a command line without such values loads no pydantic.

typer (0.29) checks each parameter's value with a pydantic ``TypeAdapter``, built on the first value
it processes, even ``None`` (``--help`` not given, an option without a default), which it returns
unchecked. Importing pydantic and building adapters for those ``None`` costs about 70 ms of each
command's start (``hwdiff devices``, ``hwdiff search --help``). ``defer_value_checks`` makes typer
build the check on the first value that is not ``None``; every value is checked as before, and a path
goes through ``user_path`` (empty refused, ``~`` expanded). With a typer that has no
``typer.core.build_runtime_param`` (older or newer versions) it does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from typer import core as typer_core

from hwdiff.storage import user_path


class _DeferredCheck:
    """Stands for typer's ``RuntimeParam`` of one parameter until a value needs it."""

    def __init__(self, descriptor: Any, build: Callable[[Any], Any]):
        self._descriptor = descriptor
        self._build = build
        self._check: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None and not (param.multiple or param.nargs == -1):
            return None  # what typer's own check returns for None, without building anything
        if self._check is None:
            self._check = self._build(self._descriptor)
        coerced = self._check.coerce(value, param=param, ctx=ctx)
        if isinstance(coerced, PurePath):  # "" is not "." and "~nobody/x" no traceback, for every path option
            return user_path(value, f"{'/'.join(param.opts)}")
        return coerced


def defer_value_checks() -> None:
    """Make typer build each parameter's check on its first value that is not ``None`` (once per process)."""
    build = getattr(typer_core, "build_runtime_param", None)
    if build is None or getattr(build, "deferred", False):
        return

    def build_deferred(descriptor: Any) -> _DeferredCheck:
        return _DeferredCheck(descriptor, build)

    build_deferred.deferred = True  # type: ignore[attr-defined]
    typer_core.build_runtime_param = build_deferred
