"""Measure on another machine over SSH: ``hwdiff profile --remote ssh://user@host[:port]`` and ``bench-model``.

People search on a workstation and measure on the board (Jetson, Raspberry Pi, any Linux target).
The workstation drives the board with the system OpenSSH client, always through an argument list;
the one string that reaches the board's shell (the remote command line) is built from words each
quoted with ``shlex.quote``. Three steps:

1. **check** -- a short Python script, sent on stdin to the board's Python, reports the board's
   Python and hwdiff versions and, when both fit, prepares the run there: for a profile,
   ``board_check`` resolves the plan (device spec, backend present), says where its files are and
   whether a run is unfinished; for ``bench-model``, a temporary folder for the model;
2. **run** -- the board's own ``hwdiff profile`` (or ``bench-model``) with the same options; progress
   comes back on stderr as ``hwdiff-progress {json}`` lines, the ``--json`` summary on stdout;
3. **copy back** -- the finished profile (``cat``), stored here with ``provenance.remote``; the
   board's facts (CPU, GPU, Jetson, software) are in its provenance already, read on the board.

The board keeps its partial run (``<profile>.json.partial``) when the connection drops or the run
dies: the run there saves it on the way out (a broken pipe included) and every 2 s. ``--resume``
continues it. Logins are non-interactive (``BatchMode``: keys or ssh-agent, no password prompts);
host keys are checked as the user's ssh configuration says, never switched off.
``$HWDIFF_SSH_CONFIG`` names an ssh_config file to use instead of ``~/.ssh/config`` (``ssh -F``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.hardware.lut import LutProfile
from hwdiff.hardware.profiles import read_profile
from hwdiff.hardware.profiling import default_output, partial_path, plan_profile
from hwdiff.storage import atomic_path, user_dir

SSH_CONFIG_ENV = "HWDIFF_SSH_CONFIG"
PROGRESS_PREFIX = "hwdiff-progress "
MIN_PYTHON = (3, 10)
CONNECT_TIMEOUT_S = 10
CHECK_TIMEOUT_S = 300  # the check imports torch on the board: slow on a small board's SD card
COPY_TIMEOUT_S = 3600  # a large TensorRT engine over a slow link
BUSY_WAIT_S = 30.0  # how long the check waits for an earlier run of the same profile to notice it lost us
_PROBE_MARKER = "hwdiff-check "
# What OpenSSH prints when an established connection goes away.
_CONNECTION_LOST = ("closed by remote host", "Connection reset", "Broken pipe", "Connection closed", "timed out",
                    "Timeout, server", "not responding", "disconnect")
_URL_FORM = "expected ssh://[user@]host[:port], e.g. ssh://nvidia@192.168.1.20 or ssh://pi@raspberrypi.local:2222"
_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")

# Sent to the board's Python on stdin. Old syntax on purpose: it must report the version of any
# Python (an old one included). It reads hwdiff's version without importing hwdiff (which imports
# torch: seconds on a small board), the way the build reads it; only a profile check imports it.
_PROBE = r"""
import json, platform, re, sys, tempfile
request = json.loads(sys.argv[1])
out = {"python": platform.python_version(), "executable": sys.executable, "host": platform.node(), "hwdiff": None}
if sys.version_info >= tuple(request["min_python"]):
    import importlib.util
    spec = importlib.util.find_spec("hwdiff")
    if spec is None or not spec.origin:
        out["import_error"] = "ModuleNotFoundError: No module named 'hwdiff'"
    else:
        with open(spec.origin) as source:
            found = re.search(r"^__version__ = [\"']([^\"']+)[\"']", source.read(), re.M)
        out["hwdiff"] = found.group(1) if found else "unknown"
if out["hwdiff"] == request["hwdiff"]:
    if "profile" in request:
        from hwdiff.hardware.remote import board_check
        out.update(board_check(request))
    if "bench" in request:
        out["bench"] = {"folder": tempfile.mkdtemp(prefix="hwdiff-bench-")}
sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
""".replace("MARKER", repr(_PROBE_MARKER))


# -- where ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteTarget:
    """A parsed ``ssh://[user@]host[:port]``."""

    user: str | None
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> RemoteTarget:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise HwdiffError(f"--remote {url!r} is not a valid ssh URL ({exc}); {_URL_FORM}") from None
        if parts.scheme != "ssh":
            raise HwdiffError(f"--remote {url!r} is not an ssh URL; {_URL_FORM}")
        if parts.password is not None:
            raise HwdiffError(f"--remote {url!r}: passwords in the URL are not accepted (hwdiff logs in with keys "
                              f"or ssh-agent); {_URL_FORM}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise HwdiffError(f"--remote {url!r} has a path, query or fragment; {_URL_FORM}")
        host = parts.hostname or ""
        if ":" in host:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise HwdiffError(f"--remote {url!r}: {host!r} is not an IPv6 address; {_URL_FORM}") from None
        elif not _HOST_NAME.match(host):
            raise HwdiffError(f"--remote {url!r} names no valid host; {_URL_FORM}")
        user = parts.username
        if user is not None and not _USER_NAME.match(user):
            raise HwdiffError(f"--remote {url!r}: {user!r} is not a valid user name; {_URL_FORM}")
        if port == 0:
            raise HwdiffError(f"--remote {url!r}: port 0 is not a port; {_URL_FORM}")
        return cls(user or None, host, port or 22)

    @property
    def destination(self) -> str:
        """``user@host`` as ssh takes it."""
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user + '@' if self.user else ''}{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host (``[host]:port`` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def login_command(self) -> str:
        """The ssh command a user types to log in by hand (for messages)."""
        return f"ssh {'-p ' + str(self.port) + ' ' if self.port != 22 else ''}{self.destination}"


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


def remote_word(word: str) -> str:
    """One shell word for the board's shell: quoted, except a leading ``~/`` (so it expands to the board's home)."""
    if word.startswith("~/"):
        return "~/" + shlex.quote(word[2:])
    return shlex.quote(word)


def describe_ssh_failure(target: RemoteTarget, stderr: str) -> str | None:
    """The reason an ssh connection failed before the remote command ran, with the fix; None if not one of those."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("@")]
    last = lines[-1] if lines else "no message"
    known = target.known_hosts_name
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or re.search(r"Host key for .* has changed", stderr):
        return (f"the host key of {known} differs from the one in your known_hosts (the board was reinstalled, or "
                f"something is in between); if you expect the change, remove the old key with "
                f"`ssh-keygen -R '{known}'`, log in once with `{target.login_command}` and check the new fingerprint")
    if "Host key verification failed" in stderr or re.search(r"No \S+ host key is known for", stderr):
        return (f"the host key of {known} is not in your known_hosts, and hwdiff keeps host-key checking on; log in "
                f"once with `{target.login_command}` and confirm the fingerprint (or add it with `ssh-keyscan -p "
                f"{target.port} {target.host} >> ~/.ssh/known_hosts` after checking it), then rerun")
    if "Permission denied" in stderr or "Too many authentication failures" in stderr:
        return (f"{target.destination} refused the login ({last}); hwdiff logs in without prompts (a key or "
                f"ssh-agent, no passwords): install your key on the board with `ssh-copy-id "
                f"{'-p ' + str(target.port) + ' ' if target.port != 22 else ''}{target.destination}`, or pass "
                "--identity KEY")
    unreachable = ("Connection refused", "timed out", "No route to host", "Network is unreachable",
                   "Could not resolve hostname", "Name or service not known", "Temporary failure in name resolution",
                   "nodename nor servname")
    if any(marker in stderr for marker in unreachable):
        return (f"cannot reach {target.host} port {target.port} ({last}); check that the board is on and on the "
                f"network, that the address and port are right and that sshd runs there (`{target.login_command}` "
                "should log in)")
    return None


# -- how --------------------------------------------------------------------------------------------
class Remote:
    """The board behind an ssh URL, reached with the system OpenSSH client."""

    def __init__(self, url: str, identity: Path | None = None, python: str | None = None):
        self.target = RemoteTarget.parse(url)
        if identity is not None:
            identity = Path(identity).expanduser()
            if not identity.is_file():
                raise HwdiffError(f"--identity {identity}: no such key file; give the private key that logs in to "
                                  f"{self.target.destination} (e.g. ~/.ssh/id_ed25519)")
        self.identity = identity
        if python is not None and not python.strip():
            raise HwdiffError("--remote-python is empty; give the path of the board's Python that has hwdiff")
        self.python = python or "python3"
        config = os.environ.get(SSH_CONFIG_ENV)
        self.config = Path(config).expanduser() if config else None
        if self.config is not None and not self.config.is_file():
            raise HwdiffError(f"${SSH_CONFIG_ENV} names {self.config}, which is not a file; point it to an "
                              "ssh_config file or unset it")
        ssh = shutil.which("ssh")
        if ssh is None:
            raise HwdiffError("--remote needs the OpenSSH client `ssh`, which is not installed here (Debian/Ubuntu: "
                              "`apt-get install openssh-client`)")
        self._ssh = ssh

    def ssh_argv(self, command: str) -> list[str]:
        """The ssh argument list running ``command`` (already quoted for the board's shell) on the board."""
        argv = [self._ssh]
        if self.config is not None:
            argv += ["-F", str(self.config)]
        argv += ["-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
                 "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", "-o", "ClearAllForwardings=yes",
                 "-p", str(self.target.port)]
        if self.identity is not None:
            argv += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.target.user:
            argv += ["-l", self.target.user]
        return argv + ["--", self.target.host, command]

    def python_command(self, *args: str) -> str:
        """The board's Python with ``args``, as one quoted command line."""
        return " ".join([remote_word(self.python), *(shlex.quote(a) for a in args)])

    def run(self, command: str, *, stdin: Any = None, input: bytes | None = None,
            timeout: float = CHECK_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run a short command; a failed connection raises ``HwdiffError`` naming the cause."""
        if stdin is None and input is None:
            stdin = subprocess.DEVNULL
        try:
            done = subprocess.run(self.ssh_argv(command), stdin=stdin, input=input, capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HwdiffError(f"{self.target.url} did not answer within {timeout:.0f} s; check the board (is it "
                              "overloaded or swapping?) and retry") from None
        if done.returncode == 255:
            stderr = done.stderr.decode("utf-8", "replace")
            reason = describe_ssh_failure(self.target, stderr)
            raise HwdiffError(reason or f"ssh to {self.target.url} failed: {_last_line(stderr) or 'exit 255'}")
        return done

    def stream(self, command: str, on_line: Callable[[str], None]) -> tuple[int, str, list[str]]:
        """Run a long command, calling ``on_line`` for each stderr line as it comes; (exit code, stdout, stderr lines).

        Ctrl-C (or any error in ``on_line``) closes the connection and is raised again; the board's
        run then stops at its next progress line and keeps its partial results.
        """
        proc = subprocess.Popen(self.ssh_argv(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
        reader.start()
        lines: list[str] = []
        try:
            for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line)
                on_line(line)
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            reader.join()
            proc.stdout.close()
            proc.stderr.close()
        return proc.returncode, b"".join(out).decode("utf-8", "replace"), lines

    def check(self, request: dict[str, Any]) -> tuple[BoardInfo, dict[str, Any]]:
        """Check Python and hwdiff on the board and prepare ``request`` there (see ``_PROBE``); (board, answer)."""
        request = {"hwdiff": __version__, "min_python": list(MIN_PYTHON), **request}
        done = self.run(self.python_command("-", json.dumps(request)), input=_PROBE.encode())
        stdout, stderr = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
        doc = next((json.loads(line[len(_PROBE_MARKER):]) for line in reversed(stdout.splitlines())
                    if line.startswith(_PROBE_MARKER)), None)
        where = self.target.destination
        if doc is None:
            if done.returncode in (126, 127):
                raise HwdiffError(f"no usable Python {self.python!r} on {where} ({_last_line(stderr)}); pass "
                                  "--remote-python PATH: the python of the environment where hwdiff is installed on "
                                  "the board")
            raise HwdiffError(f"the check with {self.python!r} on {where} failed (exit {done.returncode}: "
                              f"{_last_line(stderr) or 'no message'}); pass --remote-python PATH of a working Python "
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

    def read_file(self, path: str) -> bytes:
        done = self.run(f"cat -- {shlex.quote(path)}", timeout=COPY_TIMEOUT_S)
        if done.returncode != 0:
            raise HwdiffError(f"cannot copy {path} from {self.target.destination} "
                              f"({_last_line(done.stderr.decode('utf-8', 'replace'))})")
        return done.stdout

    def write_file(self, path: str, source: Path) -> None:
        with open(source, "rb") as data:
            done = self.run(f"cat > {shlex.quote(path)}", stdin=data, timeout=COPY_TIMEOUT_S)
        if done.returncode != 0:
            raise HwdiffError(f"cannot copy {source} to {self.target.destination}:{path} "
                              f"({_last_line(done.stderr.decode('utf-8', 'replace'))}); is the board's disk full?")

    def remove_tree(self, path: str) -> None:
        """Best effort: a board that cannot be reached any more keeps the folder (it is under its temp dir)."""
        try:
            self.run(f"rm -rf -- {shlex.quote(path)}", timeout=60)
        except HwdiffError:
            pass

    def failure(self, code: int, lines: list[str], what: str, keep: str) -> HwdiffError:
        """Why a remote run ended with ``code``: the board's own error line, a lost connection, or a crash."""
        own = [line for line in lines if not line.startswith(PROGRESS_PREFIX)]
        errors = [line[len("error: "):] for line in own if line.startswith("error: ")]
        if code == 2 and errors:
            return HwdiffError(f"on {self.target.destination}: {errors[-1]}")
        text = "\n".join(own)
        last = _last_line(text)
        if code != 255:
            return HwdiffError(f"{what} on {self.target.destination} stopped with exit code {code} "
                               f"({last or 'no message'}); {keep}")
        started = any(line.startswith(PROGRESS_PREFIX) for line in lines)
        reason = None if started else describe_ssh_failure(self.target, text)
        if reason:  # the connection failed before the command ran (the board went away since the check)
            return HwdiffError(reason)
        if any(marker in text for marker in _CONNECTION_LOST):
            return HwdiffError(f"the connection to {self.target.url} was lost during {what} ({last}); {keep}")
        # ssh says nothing and exits 255 when the remote command dies of a signal
        return HwdiffError(f"{what} on {self.target.destination} was killed ({last or 'no exit status'}: a signal, "
                           f"e.g. the out-of-memory killer; `dmesg` on the board tells); {keep}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


def _json_document(stdout: str, what: str) -> dict[str, Any]:
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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# -- on the board -------------------------------------------------------------------------------------
def board_check(request: dict[str, Any]) -> dict[str, Any]:
    """Runs on the board (called by the check script): resolve the profiling plan; user errors come back as text."""
    try:
        return {"profile": _board_profile(request["profile"])}
    except HwdiffError as exc:
        return {"error": str(exc)}


def _board_profile(options: dict[str, Any]) -> dict[str, Any]:
    plan = plan_profile(options["device"], space=options["space"], dataset=options["dataset"],
                        backend=options["backend"], precision=options["precision"],
                        batch_size=options["batch_size"], threads=options["threads"], validate=options["validate"],
                        rounds=options["rounds"], seed=options["seed"])
    target = default_output(plan)
    _wait_for_earlier_run(target)
    side = partial_path(target)
    return {"plan": plan.to_json(), "filename": plan.filename, "target": str(target), "partial": str(side),
            "exists": target.exists(), "partial_exists": side.exists()}


def _runs_writing(target: Path) -> list[int]:
    """Processes on this (Linux) machine running ``hwdiff profile ... --out TARGET``."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if "profile" in argv and any(a == "--out" and b == str(target) for a, b in zip(argv, argv[1:])):
            pids.append(int(proc.name))
    return [pid for pid in pids if pid != os.getpid()]


def _wait_for_earlier_run(target: Path) -> None:
    """After a dropped connection the earlier run lives on until its next progress line fails; let it save first."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while (pids := _runs_writing(target)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pids:
        raise HwdiffError(f"a run of this profile is still going on the board (pid {', '.join(map(str, pids))}); "
                          "wait for it to end, or stop it on the board with `kill PID`, then rerun")


# -- the commands -------------------------------------------------------------------------------------
@dataclass
class RemoteProfileResult:
    profile: LutProfile  # stored here
    summary: dict[str, Any]  # the board's `hwdiff profile --json` output ({} when a finished profile was copied)
    remote_file: str
    copied_only: bool  # the board had finished the run already (the connection dropped at its very end)


class RemoteProfileRun:
    """A profiling run on the board, checked and ready: ``prepare`` first, then ``run``."""

    def __init__(self, remote: Remote, board: BoardInfo, answer: dict[str, Any], local_target: Path,
                 resume: bool, force: bool, realtime: bool):
        self.remote, self.board = remote, board
        self.plan: dict[str, Any] = answer["plan"]
        self.remote_target: str = answer["target"]
        self.remote_partial: str = answer["partial"]
        self.finished_on_board = bool(answer["exists"] and not answer["partial_exists"] and resume and not force)
        self.local_target = local_target
        self.resume, self.force, self.realtime = resume, force, realtime

    @classmethod
    def prepare(cls, remote: Remote, options: dict[str, Any], *, out: Path | None = None, force: bool = False,
                resume: bool = False, realtime: bool = False) -> RemoteProfileRun:
        """Check the board, resolve the plan there, and check both ends' files before any measuring.

        ``options``: device, space, dataset, backend, precision, batch_size, threads, validate, rounds,
        seed (``None`` = the board's device spec decides, as for a local run).
        """
        board, doc = remote.check({"profile": options})
        answer = doc["profile"]
        target = Path(out) if out is not None else user_dir("profiles") / answer["filename"]
        if target.exists() and not force:
            raise HwdiffError(f"profile {target} already exists; pass --force to replace it")
        if target.parent.exists() and not target.parent.is_dir():
            raise HwdiffError(f"--out {target}: {target.parent} is not a folder")
        if answer["exists"] and not answer["partial_exists"] and not (force or resume):
            raise HwdiffError(f"{remote.target.destination} already has this profile ({answer['target']}); pass "
                              "--force to measure it again, or --resume to copy the finished one as it is")
        return cls(remote, board, answer, target, resume, force, realtime)

    def command(self) -> str:
        p = self.plan
        args = ["-m", "hwdiff", "profile", "--device", p["device"], "--space", p["space"], "--dataset", p["dataset"],
                "--backend", p["backend"], "--precision", p["precision"], "--batch", str(p["batch_size"]),
                "--threads", str(p["threads"]), "--validate", str(p["validate"]), "--rounds", str(p["rounds"]),
                "--seed", str(p["seed"]), "--out", self.remote_target, "--progress-lines", "--json"]
        args += [flag for flag, on in (("--resume", self.resume), ("--force", self.force),
                                       ("--realtime", self.realtime)) if on]
        return self.remote.python_command(*args)

    def run(self, progress: Callable[[int, int, str], None] | None = None,
            on_line: Callable[[str], None] | None = None) -> RemoteProfileResult:
        """Measure on the board (progress as it comes, other board lines to ``on_line``), copy back, store."""
        if self.finished_on_board:
            return self._store({}, copied_only=True)

        def line(text: str) -> None:
            parsed = parse_progress(text)
            if parsed is not None:
                if progress:
                    progress(*parsed)
            elif on_line and not text.startswith("error: "):
                on_line(text)

        code, stdout, lines = self.remote.stream(self.command(), line)
        if code != 0:
            keep = (f"the board keeps the finished measurements in {self.remote_partial}: run the same command with "
                    "--resume to continue")
            raise self.remote.failure(code, lines, "the profiling run", keep)
        return self._store(_json_document(stdout, "the profiling run on the board"), copied_only=False)

    def _store(self, summary: dict[str, Any], copied_only: bool) -> RemoteProfileResult:
        """Copy the board's profile here atomically, with where it came from; nothing is written if it is unusable."""
        remote_file = summary.get("file", self.remote_target)
        data = self.remote.read_file(remote_file)
        try:
            doc = json.loads(data)
            provenance = doc["provenance"]
        except (ValueError, KeyError, TypeError):
            raise HwdiffError(f"{self.remote.target.destination}:{remote_file} is not an hwdiff profile; measure again "
                              "with --force") from None
        if copied_only and json.loads(json.dumps(provenance.get("plan"))) != self.plan:
            raise HwdiffError(f"{self.remote.target.destination} already has a finished profile "
                              f"{remote_file} measured with other options; pass --force to measure it again")
        provenance["source"] = f"{provenance.get('source', 'measured by hwdiff profile')} on {self.board.host}"
        provenance["remote"] = {"url": self.remote.target.url, **self.board.to_json(), "file": remote_file,
                                "copied": _now()}
        copied = f"the profile copied from {self.remote.target.destination}:{remote_file}"
        with atomic_path(self.local_target) as tmp:
            tmp.write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n", encoding="utf-8")
            try:
                profile = read_profile(tmp)
            except HwdiffError as exc:
                raise HwdiffError(f"{copied} is unusable ({exc})") from None
            if not isinstance(profile, LutProfile):
                raise HwdiffError(f"{copied} is a {profile.kind} profile, not the lut profile a run measures")
        profile.path = self.local_target
        return RemoteProfileResult(profile, summary, remote_file, copied_only)


def bench_remote(remote: Remote, files: list[Path], options: list[str]) -> tuple[BoardInfo, dict[str, Any]]:
    """Copy ``files`` (the model first, then its sidecar) to a temporary folder on the board and run
    ``hwdiff bench-model MODEL OPTIONS --json`` there; its JSON result. The folder is removed afterwards."""
    board, doc = remote.check({"bench": True})
    folder = doc["bench"]["folder"]
    try:
        for path in files:
            remote.write_file(f"{folder}/{path.name}", path)
        command = remote.python_command("-m", "hwdiff", "bench-model", f"{folder}/{files[0].name}", *options, "--json")
        code, stdout, lines = remote.stream(command, lambda line: None)
        if code != 0:
            raise remote.failure(code, lines, "bench-model", "run the same command again")
        return board, _json_document(stdout, "bench-model on the board")
    finally:
        remote.remove_tree(folder)
