"""Ctrl-C and SIGTERM: one line that says what the interrupted command kept and what rerunning it does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Interrupted(Exception):  # noqa: N818  (not a KeyboardInterrupt: typer turns those into a silent exit 130)
    """What a command ``kept`` when stopped, and what the same command line does next (``main`` prints both
    with that command line)."""

    def __init__(self, kept: str, next_run: str):
        super().__init__(kept)
        self.kept, self.next_run = kept, next_run


@contextlib.contextmanager
def interruptible(kept: str, next_run: str) -> Iterator[None]:
    """Turn Ctrl-C or SIGTERM inside the block into ``Interrupted``: training's own checkpoint when training was
    stopped, else ``kept`` and ``next_run`` (what the block keeps in general)."""
    from hwdiff.generator.train import TrainingInterrupted

    try:
        yield
    except Interrupted:
        raise
    except TrainingInterrupted as stop:
        where = f"training stopped at step {stop.step} of {stop.total}"
        if stop.checkpoint is None:
            raise Interrupted(f"{where}, before its first checkpoint: nothing kept", "trains from the start") from None
        raise Interrupted(f"{where}; {stop.checkpoint} keeps step {stop.kept}", "resumes from it") from None
    except KeyboardInterrupt:
        raise Interrupted(kept, next_run) from None
