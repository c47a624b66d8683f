"""SSH transport: ``ssh://[user@]host[:port]`` URLs and the system OpenSSH client, with one-line failures.

People search on a workstation and measure on the board (Jetson, Raspberry Pi, any Linux target).
The workstation drives the board with the system OpenSSH client, always through an argument list;
the one string that reaches the board's shell (the remote command line) is built from words each
quoted with ``shlex.quote``. Logins are non-interactive (``BatchMode``: keys or ssh-agent, no
password prompts); host keys are checked as the user's ssh configuration says, never switched off.
``$HWDIFF_SSH_CONFIG`` names an ssh_config file to use instead of ``~/.ssh/config`` (``ssh -F``).
What runs on the board is ``hwdiff.hardware.remote``'s business; this module only carries it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwdiff.errors import HwdiffError

SSH_CONFIG_ENV = "HWDIFF_SSH_CONFIG"
CONNECT_TIMEOUT_S = 10
CHECK_TIMEOUT_S = 300  # the check imports torch on the board: slow on a small board's SD card
COPY_TIMEOUT_S = 3600  # a large TensorRT engine over a slow link
# What OpenSSH prints when an established connection goes away.
CONNECTION_LOST = ("closed by remote host", "Connection reset", "Broken pipe", "Connection closed", "timed out",
                   "Timeout, server", "not responding", "disconnect")
_URL_FORM = "expected ssh://[user@]host[:port], e.g. ssh://nvidia@192.168.1.20 or ssh://pi@raspberrypi.local:2222"
_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


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


class Remote:
    """The board behind an ssh URL, reached with the system OpenSSH client: run, stream, copy files."""

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
            raise HwdiffError(reason or f"ssh to {self.target.url} failed: {last_line(stderr) or 'exit 255'}")
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

    def read_file(self, path: str) -> bytes:
        done = self.run(f"cat -- {shlex.quote(path)}", timeout=COPY_TIMEOUT_S)
        if done.returncode != 0:
            raise HwdiffError(f"cannot copy {path} from {self.target.destination} "
                              f"({last_line(done.stderr.decode('utf-8', 'replace'))})")
        return done.stdout

    def write_file(self, path: str, source: Path) -> None:
        with open(source, "rb") as data:
            done = self.run(f"cat > {shlex.quote(path)}", stdin=data, timeout=COPY_TIMEOUT_S)
        if done.returncode != 0:
            raise HwdiffError(f"cannot copy {source} to {self.target.destination}:{path} "
                              f"({last_line(done.stderr.decode('utf-8', 'replace'))}); is the board's disk full?")

    def remove_tree(self, path: str) -> None:
        """Best effort: a board that cannot be reached any more keeps the folder (it is under its temp dir)."""
        try:
            self.run(f"rm -rf -- {shlex.quote(path)}", timeout=60)
        except HwdiffError:
            pass


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
