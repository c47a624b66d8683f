"""Output helpers shared by the commands: rich tables for people, JSON for programs."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:  # rich.progress loads only for commands that draw a bar
    from rich.progress import Progress, ProgressColumn

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(doc: Any) -> None:
    """JSON on stdout, nothing else (so ``--json`` output can be piped)."""
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    err_console.print(f"warning: {message}", markup=False)


def units_caption(accuracy_metric: str | None, latency_kind: Any) -> str:
    """The one line under a table that says what its accuracy and its milliseconds are
    (``latency_kind``: a profile's ``LatencyKind``, or None where unknown)."""
    parts = [f"accuracy: {accuracy_metric}"] if accuracy_metric else []
    parts.append(f"ms: {latency_kind.label}" if latency_kind is not None else "ms: latency")
    return "; ".join(parts)


def fmt_ms(value: float) -> str:
    return f"{value:.3g} ms" if value < 100 else f"{value:.0f} ms"


def fmt_count(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


def progress_bar(*columns: str | ProgressColumn, quiet: bool = False) -> Progress:
    """A transient progress bar on stderr; off when stderr is not a terminal (logs, pipes, tests)."""
    from rich.progress import Progress

    return Progress(*columns, console=err_console, transient=True, disable=quiet or not err_console.is_terminal)
