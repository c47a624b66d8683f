"""hwdiff on the board, over SSH: check it, run its commands, read their progress, results and failures.

``hwdiff profile --remote`` (``hwdiff.hardware.remote_profile``) and ``hwdiff bench-model --remote``
(``bench_remote`` below) work in three steps:

1. **check** -- ``hwdiff/hardware/board_probe.py``, sent on stdin to the board's Python, reports
   the board's Python and hwdiff versions and, when both fit, prepares the run there (for a
   profile: resolves the plan; for ``bench-model``: a temporary folder for the model);
2. **run** -- the board's own ``hwdiff`` command with the same options; progress comes back on
   stderr as ``hwdiff-progress {json}`` lines, the ``--json`` summary on stdout;
3. **copy back** -- the result (a profile), or nothing (``bench-model`` prints its figures).

The transport (URLs, ssh, copying files) is ``hwdiff.hardware.ssh``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.hardware import board_probe
from hwdiff.hardware.ssh import CONNECTION_LOST, Remote, describe_ssh_failure, last_line

PROGRESS_PREFIX = "hwdiff-progress "
MIN_PYTHON = (3, 10)
PROBE_MARKER = board_probe.MARKER
PROBE_SOURCE = Path(board_probe.__file__).read_bytes()  # sent as source: the board's hwdiff may be missing or other


@dataclass(frozen=True)
class BoardInfo:
    """What the check found on the board."""

    python: str
    executable: str
    host: str
    hwdiff: str

    def to_json(self) -> dict[str, Any]:
        return {"python": self.python, "python_executable": self.executable, "host": self.host,
                "hwdiff": self.hwdiff}


def check_board(remote: Remote, request: dict[str, Any]) -> tuple[BoardInfo, dict[str, Any]]:
    """Check Python and hwdiff on the board and prepare ``request`` there (``board_probe``); (board, answer)."""
    request = {"hwdiff": __version__, "min_python": list(MIN_PYTHON), **request}
    done = remote.run(remote.python_command("-", json.dumps(request)), input=PROBE_SOURCE)
    stdout, stderr = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    doc = next((json.loads(line[len(PROBE_MARKER):]) for line in reversed(stdout.splitlines())
                if line.startswith(PROBE_MARKER)), None)
    where = remote.target.destination
    if doc is None:
        if done.returncode in (126, 127):
            raise HwdiffError(f"no usable Python {remote.python!r} on {where} ({last_line(stderr)}); pass "
                              "--remote-python PATH: the python of the environment where hwdiff is installed on "
                              "the board")
        raise HwdiffError(f"the check with {remote.python!r} on {where} failed (exit {done.returncode}: "
                          f"{last_line(stderr) or 'no message'}); pass --remote-python PATH of a working Python "
                          "that has hwdiff")
    python, executable = doc["python"], doc["executable"]
    if _version_tuple(python) < MIN_PYTHON:
        raise HwdiffError(f"{where} runs Python {python} ({executable}); hwdiff needs Python >= "
                          f"{'.'.join(map(str, MIN_PYTHON))}: install a newer one there and pass --remote-python "
                          "PATH")
    if doc["hwdiff"] is None:
        raise HwdiffError(f"hwdiff is not installed for {executable} on {where} ({doc.get('import_error')}); "
                          f"install this version there (`{executable} -m pip install hwdiff=={__version__}`, or "
                          "the same source checkout), or pass --remote-python PATH of the environment that has it")
    if doc["hwdiff"] != __version__:
        raise HwdiffError(f"{where} has hwdiff {doc['hwdiff']} ({executable}), this machine has hwdiff "
                          f"{__version__}; both sides must run the same version: install {__version__} on the "
                          f"board (`{executable} -m pip install hwdiff=={__version__}`) or {doc['hwdiff']} here")
    if doc.get("error"):
        raise HwdiffError(f"on {where}: {doc['error']}")
    info = BoardInfo(python=python, executable=executable, host=doc["host"], hwdiff=doc["hwdiff"])
    return info, doc


def run_failure(remote: Remote, code: int, lines: list[str], what: str, keep: str) -> HwdiffError:
    """Why a remote run ended with ``code``: the board's own error line, a lost connection, or a crash."""
    own = [line for line in lines if not line.startswith(PROGRESS_PREFIX)]
    errors = [line[len("error: "):] for line in own if line.startswith("error: ")]
    if code == 2 and errors:
        return HwdiffError(f"on {remote.target.destination}: {errors[-1]}")
    text = "\n".join(own)
    last = last_line(text)
    if code != 255:
        return HwdiffError(f"{what} on {remote.target.destination} stopped with exit code {code} "
                           f"({last or 'no message'}); {keep}")
    started = any(line.startswith(PROGRESS_PREFIX) for line in lines)
    reason = None if started else describe_ssh_failure(remote.target, text)
    if reason:  # the connection failed before the command ran (the board went away since the check)
        return HwdiffError(reason)
    if any(marker in text for marker in CONNECTION_LOST):
        return HwdiffError(f"the connection to {remote.target.url} was lost during {what} ({last}); {keep}")
    # ssh says nothing and exits 255 when the remote command dies of a signal
    return HwdiffError(f"{what} on {remote.target.destination} was killed ({last or 'no exit status'}: a signal, "
                       f"e.g. the out-of-memory killer; `dmesg` on the board tells); {keep}")


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


def json_document(stdout: str, what: str) -> dict[str, Any]:
    """The ``--json`` document a remote command printed (anything a login script printed before it is skipped)."""
    start = 0 if stdout.startswith("{") else stdout.find("\n{") + 1
    try:
        doc = json.loads(stdout[start:])
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise HwdiffError(f"{what} printed no result (got {stdout[:200]!r}); run it on the board by hand to see why")
    return doc


def format_progress(done: int, total: int, label: str) -> str:
    """One machine-readable progress line (``hwdiff profile --progress-lines``)."""
    return PROGRESS_PREFIX + json.dumps({"done": done, "total": total, "label": label})


def parse_progress(line: str) -> tuple[int, int, str] | None:
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        doc = json.loads(line[len(PROGRESS_PREFIX):])
        return int(doc["done"]), int(doc["total"]), str(doc["label"])
    except (ValueError, KeyError, TypeError):
        return None


def bench_remote(remote: Remote, files: list[Path], options: list[str]) -> tuple[BoardInfo, dict[str, Any]]:
    """Copy ``files`` (the model first, then its sidecar) to a temporary folder on the board and run
    ``hwdiff bench-model MODEL OPTIONS --json`` there; its JSON result. The folder is removed afterwards."""
    board, doc = check_board(remote, {"bench": True})
    folder = doc["bench"]["folder"]
    try:
        for path in files:
            remote.write_file(f"{folder}/{path.name}", path)
        command = remote.python_command("-m", "hwdiff", "bench-model", f"{folder}/{files[0].name}", *options, "--json")
        code, stdout, lines = remote.stream(command, lambda line: None)
        if code != 0:
            raise run_failure(remote, code, lines, "bench-model", "run the same command again")
        return board, json_document(stdout, "bench-model on the board")
    finally:
        remote.remove_tree(folder)
