"""Ctrl-C and SIGTERM: one line that says what the interrupted command kept and what rerunning it does.

One mechanism: ``main`` runs every command inside ``stop_signals`` (SIGTERM raises ``KeyboardInterrupt``
as Ctrl-C does, and the signal is remembered for the exit code); a long command turns the
``KeyboardInterrupt`` into ``Interrupted`` (``interruptible``, or raised itself where what was kept is
known only then), which ``main`` prints as ``interrupted: KEPT; `hwdiff COMMAND LINE` NEXT_RUN``.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator, Sequence


class Interrupted(Exception):  # noqa: N818  (not a KeyboardInterrupt: typer turns those into a silent exit 130)
    """What a command ``kept`` when stopped, and what the command line does next (``next_run``).

    The command line is the one that was run, plus those of ``add_flags`` it lacks (``--resume``), or
    ``command`` where the resuming command is another one.
    """

    def __init__(self, kept: str, next_run: str, *, add_flags: Sequence[str] = (),
                 command: Sequence[str] | None = None):
        super().__init__(kept)
        self.kept, self.next_run = kept, next_run
        self.add_flags, self.command = tuple(add_flags), command

    def line(self, argv: Sequence[str]) -> str:
        """The one line ``main`` prints for the command line ``argv``."""
        words = list(self.command) if self.command is not None else [
            *argv, *(flag for flag in self.add_flags if flag not in argv)]
        return f"interrupted: {self.kept}; `hwdiff {shlex.join(words)}` {self.next_run}"


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """SIGTERM ends a command as Ctrl-C does, so each command says what it kept and how to resume.

    Yields the list of signals received (empty after a plain Ctrl-C); ``exit_code`` turns it into the exit
    status. The handler is set only where nobody set one, and only in the main thread (the only one that may).
    """
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    mine = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if mine:
        signal.signal(signal.SIGTERM, stop)
    try:
        yield received
    finally:
        if mine:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def exit_code(received: list[int]) -> int:
    """128 + the signal that stopped the command: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (received[-1] if received else signal.SIGINT)


@contextlib.contextmanager
def interruptible(kept: str, next_run: str) -> Iterator[None]:
    """Turn Ctrl-C, or SIGTERM, inside the block into ``Interrupted``: training's own checkpoint when training
    was stopped, else ``kept`` and ``next_run`` (what the block keeps in general)."""
    from hwdiff.generator.train import TrainingInterrupted

    try:
        yield
    except TrainingInterrupted as training:
        where = f"training stopped at step {training.step} of {training.total}"
        if training.checkpoint is None:
            raise Interrupted(f"{where}, before its first checkpoint: nothing kept", "trains from the start") from None
        raise Interrupted(f"{where}; {training.checkpoint} keeps step {training.kept}", "resumes from it") from None
    except KeyboardInterrupt:
        raise Interrupted(kept, next_run) from None
