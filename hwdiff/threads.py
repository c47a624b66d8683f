"""How hwdiff's torch threads wait, and how many there are: set once when a command starts.

torch's CPU threads come from OpenMP (libgomp in the pip wheels). At the end of every parallel region
a libgomp thread that is done spins, up to 300,000 rounds, before it sleeps. Beside another busy
process that spinning takes the core from the thread it waits for, so a command makes little progress
while burning CPU (measured with ``python -m tools.bench_threads``; figures in docs/performance.md).
Threads that sleep at once (``OMP_WAIT_POLICY=PASSIVE``) give the core back instead, at a price when
the machine is idle: each of the thousands of small operations of a training step or a sampling step
then wakes its threads again (on the 2-core VM, alone: 67 % slower training, a third fewer samples a
second; docs/performance.md). So a command looks at the machine when it starts: when the tasks
running besides it leave a core for each of its threads, it keeps libgomp's own waiting; otherwise,
or where that cannot be seen, it waits passively. The look is an instant one (the running-task count
of ``/proc/loadavg``, least of a few reads), not the load average, whose minute-long memory would
count hwdiff's own last command as a neighbour. A neighbour that starts after the command does is
not seen (``OMP_WAIT_POLICY=PASSIVE`` forces passive waiting).

The thread count is not chosen by load: a generator's weights depend on it (sums split differently
across threads), and a seed must give the same model on a busy machine as on an idle one. It stays
torch's default (one per physical core) unless ``HWDIFF_THREADS`` or ``OMP_NUM_THREADS`` says otherwise.

OpenMP reads these variables once, when torch loads: :func:`configure_threads` runs before anything
imports torch (``hwdiff.cli.main``). It imports nothing heavy itself.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path

from hwdiff.errors import HwdiffError

THREADS_VARIABLE = "HWDIFF_THREADS"
# Set by the user, any of these leaves the way threads wait to them (libgomp's, Intel OpenMP's).
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
# Commands that time networks keep OpenMP's own waiting, so their figures stay comparable with
# deployments and with profiles measured before; their --threads are theirs to set.
TIMING_COMMANDS = frozenset({"profile", "bench-model"})
LOADAVG = Path("/proc/loadavg")
LOOKS = 3  # reads of the running-task count, LOOK_GAP_S apart: a neighbour that runs shows in all of them
LOOK_GAP_S = 0.005


def requested_threads(environ: MutableMapping[str, str]) -> int | None:
    """``HWDIFF_THREADS`` as a number of threads, ``None`` when unset."""
    text = environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise HwdiffError(f"{THREADS_VARIABLE} must be a whole number of threads, at least 1 (got {text!r})")
    return int(text)


def running_besides_this() -> int | None:
    """Tasks running on the machine now, this one not counted (``None`` where ``/proc/loadavg`` is not there)."""
    counts = []
    for look in range(LOOKS):
        if look:
            time.sleep(LOOK_GAP_S)
        try:
            running = LOADAVG.read_text().split()[3].split("/")[0]
            counts.append(int(running) - 1)
        except (OSError, IndexError, ValueError):
            return None
    return max(0, min(counts))


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_is_free(threads: int | None) -> bool:
    """Whether the tasks running now leave a core for each of ``threads`` (default: one per usable CPU)."""
    others = running_besides_this()
    cpus = usable_cpus()
    return others is not None and others + (threads or cpus) <= cpus


def configure_threads(command: str | None = None, environ: MutableMapping[str, str] | None = None,
                      free: bool | None = None) -> None:
    """Fix the thread count (``HWDIFF_THREADS``) and how threads wait for ``command``, before torch loads.

    Variables the user set win: any of ``WAIT_VARIABLES`` keeps its waiting, ``OMP_NUM_THREADS``
    its count unless ``HWDIFF_THREADS`` is set too. When torch is loaded already (hwdiff called
    in-process), the count still applies; waiting cannot change any more. ``free``: whether the
    machine has a core for each thread (default: :func:`machine_is_free`, looked at only when it decides).
    """
    environ = os.environ if environ is None else environ
    threads = requested_threads(environ)
    if threads is not None:
        environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    if command in TIMING_COMMANDS or any(name in environ for name in WAIT_VARIABLES):
        return
    if threads is None and environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        threads = int(environ["OMP_NUM_THREADS"])
    if not (machine_is_free(threads) if free is None else free):
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
