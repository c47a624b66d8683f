"""Ctrl-C and SIGTERM: one line that says what the interrupted command kept and what rerunning it does."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


class Interrupted(Exception):  # noqa: N818  (not a KeyboardInterrupt: typer turns those into a silent exit 130)
    """What a command ``kept`` when stopped, and what the same command line does next (``main`` prints both
    with that command line and exits with ``exit_code``: 130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, kept: str, next_run: str, exit_code: int):
        super().__init__(kept)
        self.kept, self.next_run, self.exit_code = kept, next_run, exit_code


@contextlib.contextmanager
def interruptible(kept: str, next_run: str) -> Iterator[None]:
    """Turn Ctrl-C, or SIGTERM, inside the block into ``Interrupted``: training's own checkpoint when training
    was stopped, else ``kept`` and ``next_run`` (what the block keeps in general)."""
    from hwdiff.generator.train import TrainingInterrupted

    received = [signal.SIGINT]

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = _set_sigterm(stop)
    try:
        yield
    except TrainingInterrupted as training:
        where = f"training stopped at step {training.step} of {training.total}"
        if training.checkpoint is None:
            raise Interrupted(f"{where}, before its first checkpoint: nothing kept", "trains from the start",
                              128 + received[-1]) from None
        raise Interrupted(f"{where}; {training.checkpoint} keeps step {training.kept}", "resumes from it",
                          128 + received[-1]) from None
    except KeyboardInterrupt:
        raise Interrupted(kept, next_run, 128 + received[-1]) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _set_sigterm(handler: Callable[[int, object], None]) -> object:
    """Install ``handler`` for SIGTERM; the handler it replaced (``None`` outside the main thread, where none
    can be set: SIGTERM then keeps its own effect)."""
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None
    return signal.SIG_DFL if previous is None else previous  # None: a handler not set from Python
