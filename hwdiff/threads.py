"""How hwdiff's torch threads wait, and how many there are: set once when a command starts.

torch's CPU threads come from OpenMP (libgomp in the pip wheels). At the end of every parallel region
a libgomp thread that is done spins, up to 300,000 rounds, before it sleeps. Beside another busy
process that spinning takes the core from the thread it waits for, so a command makes little progress
while burning CPU (measured with ``python -m tools.bench_threads``; figures in docs/performance.md).
Threads that sleep at once (``OMP_WAIT_POLICY=PASSIVE``) give the core back instead.

The thread count is not chosen by load: a generator's weights depend on it (sums split differently
across threads), and a seed must give the same model on a busy machine as on an idle one. It stays
torch's default (one per physical core) unless ``HWDIFF_THREADS`` or ``OMP_NUM_THREADS`` says otherwise.

OpenMP reads these variables once, when torch loads: :func:`configure_threads` runs before anything
imports torch (``hwdiff.cli.main``). It imports nothing heavy itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

from hwdiff.errors import HwdiffError

THREADS_VARIABLE = "HWDIFF_THREADS"
# Set by the user, any of these leaves the way threads wait to them (libgomp's, Intel OpenMP's).
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
# Commands that time networks keep OpenMP's own waiting, so their figures stay comparable with
# deployments and with profiles measured before; their --threads are theirs to set.
TIMING_COMMANDS = frozenset({"profile", "bench-model"})


def requested_threads(environ: MutableMapping[str, str]) -> int | None:
    """``HWDIFF_THREADS`` as a number of threads, ``None`` when unset."""
    text = environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise HwdiffError(f"{THREADS_VARIABLE} must be a whole number of threads, at least 1 (got {text!r})")
    return int(text)


def configure_threads(command: str | None = None, environ: MutableMapping[str, str] | None = None) -> None:
    """Fix the thread count (``HWDIFF_THREADS``) and passive waiting for ``command``, before torch loads.

    Variables the user set win: any of ``WAIT_VARIABLES`` keeps its waiting, ``OMP_NUM_THREADS``
    its count unless ``HWDIFF_THREADS`` is set too. When torch is loaded already (hwdiff called
    in-process), the count still applies; waiting cannot change any more.
    """
    environ = os.environ if environ is None else environ
    threads = requested_threads(environ)
    if threads is not None:
        environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    if command not in TIMING_COMMANDS and not any(name in environ for name in WAIT_VARIABLES):
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
