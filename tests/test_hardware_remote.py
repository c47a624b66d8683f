"""``--remote ssh://...``: profiling and bench-model on another machine, through a real OpenSSH server.

Each test starts Debian's sshd on 127.0.0.1 (a free high port; own sshd_config, temporary host key,
a generated client key, its own known_hosts through ``$HWDIFF_SSH_CONFIG``). The "board" is this
machine reached through it: the same Python (``sys.executable``) with its own ``$HWDIFF_HOME`` and
``$TMPDIR`` (set by the server's ``SetEnv``), and the quick timing of test_profiling.py (a
``sitecustomize`` in front of it does there what the ``quick_timing`` fixture does here). Nothing
connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import hwdiff
import hwdiff.cli.profiles as cli_profiles
from hwdiff import __version__
from hwdiff.deploy.export import ExportOptions, export
from hwdiff.deploy.source import resolve_source
from hwdiff.errors import HwdiffError
from hwdiff.hardware import read_profile
from hwdiff.hardware.remote import PROGRESS_PREFIX, run_failure
from hwdiff.hardware.ssh import SSH_CONFIG_ENV, Remote, RemoteTarget, remote_word
from hwdiff.hardware.trt_engine import STANDIN_ENV, find_tensorrt

pytestmark = pytest.mark.slow  # every test starts sshd

SMALL = ("--device", "cpu", "--dataset", "imagenet16", "--threads", "1", "--validate", "4", "--rounds", "1")


def find_sshd() -> str:
    """The OpenSSH server binary. Missing, the remote tests skip on a developer's machine and fail where
    ``HWDIFF_REQUIRE_SSHD=1`` (``.ci/run`` installs openssh-server and sets it)."""
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            if shutil.which("ssh"):
                return candidate
    missing = ("sshd or ssh is not installed: the remote tests need Debian's openssh-server "
               "(`apt-get install openssh-server`; .ci/run installs it)")
    if os.environ.get("HWDIFF_REQUIRE_SSHD") == "1":
        pytest.fail(missing)
    pytest.skip(missing)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hwdiff-test", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name), from /proc."""
    out = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        out[int(stat_file.parent.name)] = (int(text[text.rindex(")") + 2:].split()[1]), name)
    return out


class SshServer:
    """Debian's sshd on 127.0.0.1:PORT, configured from scratch in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.home = folder / "board-home"  # the board's $HWDIFF_HOME
        self.tmp = folder / "board-tmp"  # the board's $TMPDIR
        self.tmp.mkdir()
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_public = keygen(folder / "host_ed25519")
        self.key = folder / "client_ed25519"
        (folder / "authorized_keys").write_text(keygen(self.key) + "\n")
        self.known_hosts = folder / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {self.host_public}\n")
        self.config = folder / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_ed25519'}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {folder / 'authorized_keys'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password", "AllowTcpForwarding no",
            "X11Forwarding no", "PrintMotd no", f"SetEnv HWDIFF_HOME={self.home} TMPDIR={self.tmp}", ""]))
        self.client_config = self.ssh_config(self.known_hosts)
        self.proc: subprocess.Popen | None = None
        self.python = sys.executable  # the board's Python (the fixture puts a quick-timing wrapper in front)

    def ssh_config(self, known_hosts: Path, name: str = "ssh_config") -> Path:
        """A client configuration that trusts exactly ``known_hosts`` and offers only the key given with -i."""
        path = self.folder / name
        path.write_text(f"Host *\n  UserKnownHostsFile {known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                        "  IdentityAgent none\n  IdentitiesOnly yes\n")
        return path

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def start(self) -> None:
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        log = self.folder / "sshd.log"
        self.proc = subprocess.Popen([find_sshd(), "-D", "-f", str(self.config), "-E", str(log)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"sshd exited with {self.proc.returncode}: {log.read_text() if log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"sshd did not listen on 127.0.0.1:{self.port} within 15 s")

    def sessions(self) -> tuple[list[int], list[int]]:
        """(sshd processes, other processes) below the listening sshd: its connections and what they run."""
        procs = _processes()
        below, frontier = [], [self.proc.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, (ppid, _) in procs.items() if ppid == parent]
            below += children
            frontier += children
        sshd = [pid for pid in below if procs[pid][1].startswith("sshd")]
        return sshd, [pid for pid in below if pid not in sshd]

    def cut(self) -> list[int]:
        """Drop every connection at once, as a network failure does: kill the server and its connection
        processes, and leave what they ran alone. Returns those orphaned remote processes."""
        sshd, orphans = self.sessions()
        self.proc.kill()
        for pid in sshd:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        return orphans

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.cut()


def write_wrapper(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def server(tmp_path, monkeypatch, quick_settings):
    """A running sshd, its client configuration in $HWDIFF_SSH_CONFIG, and a quick-timing board Python."""
    srv = SshServer(tmp_path / "ssh")
    site = tmp_path / "board-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import hwdiff.hardware.profiling as profiling\n"
        "from hwdiff.hardware.timing import TimingSettings\n"
        f"profiling.LAYER_TIMING = profiling.NETWORK_TIMING = TimingSettings(**{quick_settings.to_json()!r})\n")
    code = Path(hwdiff.__file__).resolve().parents[1]  # the board runs the hwdiff under test, not an installed one
    srv.python = write_wrapper(tmp_path / "board-python", f'PYTHONPATH={site}:{code} exec {sys.executable} "$@"')
    monkeypatch.setenv(SSH_CONFIG_ENV, str(srv.client_config))
    srv.start()
    yield srv
    srv.stop()


def remote_args(srv: SshServer, *extra: str) -> tuple[str, ...]:
    return ("--remote", srv.url, "--identity", str(srv.key), "--remote-python", srv.python, *extra)


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.err
    return [line for line in result.err.splitlines() if line.startswith("error:")]


# -- profile --remote -----------------------------------------------------------------------------
@pytest.mark.usefixtures("quick_timing")  # the local run of the comparison: the board's timing
def test_remote_profile_is_copied_back_and_matches_a_local_run(cli, server, hwdiff_home, tmp_path):
    result = cli("profile", *SMALL, *remote_args(server), "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    local_file = hwdiff_home / "profiles" / "cpu-nb201-pytorch-fp32-b1.json"
    board_file = server.home / "profiles" / "cpu-nb201-pytorch-fp32-b1.json"
    assert summary["file"] == str(local_file) and summary["remote"]["file"] == str(board_file)
    assert summary["jobs"] == 18 * 2 + 4 + 4 and summary["resumed_jobs"] == 0
    assert f"[{server.user}@127.0.0.1] profiling cpu (nb201, imagenet16)" in result.err  # the board's own lines
    assert PROGRESS_PREFIX not in result.err  # progress went to the bar, not to the screen as text
    assert board_file.exists() and not list(local_file.parent.glob(".*.tmp"))

    remote = read_profile(local_file)
    prov = remote.provenance
    assert prov["remote"]["url"] == server.url and prov["remote"]["hwdiff"] == __version__
    assert prov["remote"]["python_executable"] == sys.executable and prov["remote"]["host"] == platform.node()
    assert prov["facts_before"]["host"] == platform.node() and prov["facts_after"]["cpu"]["model"]
    assert prov["source"].endswith(f"on {platform.node()}")
    assert cli("profiles", "show", str(local_file)).code == 0

    # The same settings measured here: the same table and networks, figures of the same size.
    local_out = tmp_path / "local.json"
    assert cli("profile", *SMALL, "--out", str(local_out)).code == 0
    local = read_profile(local_out)
    assert prov["plan"] == local.provenance["plan"]  # quick timing on both sides
    assert [e["key"] for e in remote.layers] == [e["key"] for e in local.layers]
    assert [n["arch"] for n in remote.networks] == [n["arch"] for n in local.networks]
    for figure in (lambda p: sum(e["ms"] for e in p.layers), lambda p: sum(n["measured_ms"] for n in p.networks)):
        ratio = figure(remote) / figure(local)
        assert 0.2 < ratio < 5, ratio
    assert np.all(remote.predict([n["arch"] for n in local.networks]) > 0)

    # A run the board finished while nobody was listening: --resume copies it as it is.
    local_file.unlink()
    copied = cli("profile", *SMALL, *remote_args(server), "--resume", "--json")
    assert copied.code == 0, copied.err
    assert "has finished this run already (--resume): copying" in copied.err
    assert json.loads(copied.out)["remote"]["file"] == str(board_file)
    assert read_profile(local_file).layers == remote.layers


class CutAfter(cli_profiles.Progress):
    """The progress bar of `hwdiff profile`, which cuts the connection once ``after`` jobs are reported done."""

    server: SshServer
    after = 5
    orphans: list[int] | None = None  # the board's processes the cut left behind

    def update(self, task, **fields):
        if fields.get("completed", 0) >= self.after and CutAfter.orphans is None:
            CutAfter.orphans = self.server.cut()
        super().update(task, **fields)


def test_dropped_connection_leaves_a_resumable_run_on_the_board(cli, server, monkeypatch, hwdiff_home):
    CutAfter.server, CutAfter.orphans = server, None
    bar = cli_profiles.Progress
    monkeypatch.setattr(cli_profiles, "Progress", CutAfter)
    args = ("profile", *SMALL, "--rounds", "2", *remote_args(server))
    cut = cli(*args)
    assert CutAfter.orphans is not None, "the run was not cut"
    partial = server.home / "profiles" / "cpu-nb201-pytorch-fp32-b1.json.partial"
    assert cut.code == 2
    [line] = error_lines(cut)
    assert line.startswith(f"error: the connection to {server.url} was lost during the profiling run (")
    assert line.endswith(f"the board keeps the finished measurements in {partial}: run the same command with "
                         "--resume to continue")
    assert not (hwdiff_home / "profiles").exists()  # nothing half-written here

    monkeypatch.setattr(cli_profiles, "Progress", bar)
    server.start()
    resumed = cli(*args, "--resume", "--json")  # waits for the orphaned run to notice and save, then continues it
    assert resumed.code == 0, resumed.err
    assert not any(Path(f"/proc/{pid}").exists() for pid in CutAfter.orphans)
    summary = json.loads(resumed.out)
    assert CutAfter.after <= summary["resumed_jobs"] < summary["jobs"] == 2 * (18 * 2 + 4 + 4)
    assert not partial.exists()
    profile = read_profile(Path(summary["file"]))
    assert profile.provenance["resumed"] is True and len(profile.layers) == 22


def test_remote_few_shot_profile_is_measured_on_the_board_and_resumed(cli, server, monkeypatch, hwdiff_home):
    from hwdiff.hardware.fewshot import few_shot_design

    CutAfter.server, CutAfter.orphans = server, None
    bar = cli_profiles.Progress
    monkeypatch.setattr(cli_profiles, "Progress", CutAfter)
    monkeypatch.setattr(CutAfter, "after", 4)
    args = ("profile", "--device", "cpu", "--dataset", "imagenet16", "--threads", "1", "--rounds", "2",
            "--networks", "5", "--holdout", "3", *remote_args(server))
    cut = cli(*args)
    assert CutAfter.orphans is not None and cut.code == 2, cut.err
    partial = server.home / "profiles" / "cpu-nb201-fewshot.json.partial"
    assert error_lines(cut)[0].endswith(f"the board keeps the finished measurements in {partial}: run the same "
                                        "command with --resume to continue")
    assert not (hwdiff_home / "profiles").exists()

    monkeypatch.setattr(cli_profiles, "Progress", bar)
    server.start()
    resumed = cli(*args, "--resume", "--json")
    assert resumed.code == 0, resumed.err
    summary = json.loads(resumed.out)
    assert summary["networks"] == 5 and summary["holdout"] == 3 and summary["jobs"] == 2 * 8
    assert 4 <= summary["resumed_jobs"] < 16 and not partial.exists()
    assert summary["file"] == str(hwdiff_home / "profiles" / "cpu-nb201-fewshot.json")
    profile = read_profile(Path(summary["file"]))
    assert profile.kind == "fewshot" and profile.archs == few_shot_design("nb201", 5, seed=0)
    prov = profile.provenance
    assert prov["remote"]["url"] == server.url and prov["resumed"] is True and prov["plan"]["networks"] == 5
    assert profile.validation["n"] == 3 and np.all(profile.predict(profile.archs) > 0)


# -- bench-model --remote -------------------------------------------------------------------------
def test_bench_model_copies_the_model_and_measures_it_there(cli, server, tmp_path, cheap_arch):
    model = export(resolve_source(cheap_arch), ExportOptions(format="torchscript",
                                                             output=tmp_path / "net.torchscript.pt")).path
    result = cli("bench-model", str(model), "--threads", "1", *remote_args(server), "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["file"] == str(model) and doc["arch"] == cheap_arch and doc["backend"] == "pytorch"
    assert doc["remote"]["url"] == server.url and doc["remote"]["file"].startswith(str(server.tmp))
    assert doc["remote"]["file"].endswith("/net.torchscript.pt")
    assert not list(server.tmp.glob("hwdiff-bench-*"))  # the copy is removed after the run
    assert doc["measured_ms"] > 0 and doc["measurement"]["repeats"] >= 15 and doc["threads"] == 1


# -- search --verify --remote and the device guard on the board ------------------------------------
@pytest.mark.usefixtures("one_thread")
def test_search_verify_measures_the_top_networks_on_the_board(cli, server, quick_settings, hwdiff_home):
    from hwdiff.hardware.fewshot_run import plan_few_shot
    from hwdiff.hardware.profiling import run_profile

    plan = plan_few_shot("cpu", dataset="imagenet16", threads=1, networks=5, holdout=3, rounds=1,
                         network_timing=quick_settings)
    profile = run_profile(plan).profile  # measured here: the "board" is this machine, so the hardware matches
    budget = float(np.median(profile.latency_ms))
    result = cli("search", "--device", "cpu", "--latency", f"{budget:.4f}ms", "--samples", "50", "--steps", "5",
                 "--train-steps", "50", "--verify", "2", *remote_args(server), "--json")
    assert result.code == 0, result.err
    v = json.loads(result.out)["verification"]
    assert v["where"] == f"{server.url} ({platform.node()})" and v["measured"] == 2
    assert v["run"]["threads"] == 1 and v["run"]["network_timing"] == quick_settings.to_json()
    for n in v["networks"]:
        assert n["measured_ms"] > 0 and n["predicted_ms"] == pytest.approx(float(profile.predict([n["arch"]])[0]))
        assert n["within_budget"] == (n["measured_ms"] <= v["budget_ms"])
    assert v["load_average"]["before"] and "torch" in v["versions"]
    assert not list(server.tmp.glob("hwdiff*")) and not (server.home / "profiles").exists()  # nothing left there


def test_the_device_guard_runs_on_the_board(cli, server, hwdiff_home):
    from hwdiff.hardware.device_guard import names_match
    from hwdiff.hardware.facts import cpu_facts

    if names_match("Gold 6226", str(cpu_facts()["model"])):
        pytest.skip("this machine is a Xeon Gold 6226")
    few = ("--dataset", "imagenet16", "--threads", "1", "--rounds", "1", "--networks", "5", "--holdout", "3")
    args = ("profile", "--device", "gold_6226", "--backend", "pytorch", *few, *remote_args(server))
    refused = cli(*args)
    [line] = error_lines(refused)
    assert line.startswith(f"error: on {server.user}@127.0.0.1: device gold_6226 (Intel Xeon Gold 6226")
    assert "--force-device" in line and not (hwdiff_home / "profiles").exists()
    forced = cli(*args, "--force-device", "--json")
    assert forced.code == 0, forced.err
    prov = read_profile(Path(json.loads(forced.out)["file"])).provenance
    assert "is not this machine" in prov["device_override"] and prov["remote"]["url"] == server.url

    verify = cli("search", "--device", "gold_6226", "--latency", "30ms", "--verify", *remote_args(server))
    [line] = error_lines(verify)
    assert line.startswith(f"error: --verify: on {server.user}@127.0.0.1: cannot measure device gold_6226 here: ")

# -- export --format trt --remote ------------------------------------------------------------------
def test_trt_export_builds_checks_and_times_the_engine_on_the_board(cli, server, tmp_path, cheap_arch):
    """The board builds with what it has: TensorRT where installed, else the ONNX Runtime stand-in."""
    board_python = write_wrapper(tmp_path / "board-python-standin",
                                 f'{STANDIN_ENV}=onnxruntime exec {server.python} "$@"')
    out = tmp_path / "out"
    out.mkdir()
    args = ("--remote", server.url, "--identity", str(server.key), "--remote-python", board_python)
    result = cli("export", cheap_arch, "--format", "trt", "--output", str(out / "net.engine"), *args, "--json")
    assert result.code == 0, result.err
    onnx_doc, doc = json.loads(result.out)
    assert onnx_doc["path"] == str(out / "net.engine.onnx") and doc["path"] == str(out / "net.engine")
    built = doc["built_on"]
    assert built["remote"]["url"] == server.url and built["remote"]["hwdiff"] == __version__
    assert built["host"] == platform.node() and (built["standin"] or built["tensorrt"])
    assert doc["parity"]["engine"]["passed"] and doc["measurement"]["median_ms"] > 0
    side = json.loads((out / "net.engine.json").read_text())
    assert side["sha256"] == hashlib.sha256((out / "net.engine").read_bytes()).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == ["net.engine", "net.engine.json", "net.engine.onnx",
                                                    "net.engine.onnx.json"]
    assert not list(server.tmp.glob("hwdiff-bench-*"))  # the board's folder is removed
    if built["standin"]:  # never loaded as a TensorRT engine
        bench = cli("bench-model", str(out / "net.engine"), *args)
        [line] = error_lines(bench)
        assert bench.code == 2 and ("stand-in" in line or "TensorRT is not installed" in line)
    if find_tensorrt() is None:  # a board without TensorRT (and no stand-in): one line, nothing written
        bare = cli("export", cheap_arch, "--format", "trt", "--output", str(tmp_path / "bare.engine"),
                   *remote_args(server))
        assert bare.code == 2 and "has no TensorRT" in error_lines(bare)[0]
        assert not list(tmp_path.glob("bare.engine*")) and not list(server.tmp.glob("hwdiff-bench-*"))


# -- bad input ------------------------------------------------------------------------------------
def test_bad_remote_input_is_one_line_with_the_fix(cli, server, tmp_path, monkeypatch, hwdiff_home):
    fake = tmp_path / "old-hwdiff"
    (fake / "hwdiff").mkdir(parents=True)
    (fake / "hwdiff" / "__init__.py").write_text('__version__ = "0.0.1"\n')
    other_version = write_wrapper(tmp_path / "old-python", f'PYTHONPATH={fake} exec {sys.executable} "$@"')
    no_hwdiff = write_wrapper(tmp_path / "bare-python", f'exec {sys.executable} -S "$@"')
    # Stands in for an old Python (there is none here): it answers the check as Python 3.8 would.
    answer = json.dumps({"python": "3.8.10", "executable": "/usr/bin/python3.8", "host": "old", "hwdiff": None})
    old_python = write_wrapper(tmp_path / "python3.8", f"cat >/dev/null\necho 'hwdiff-check {answer}'")
    stranger = tmp_path / "stranger_ed25519"
    keygen(stranger)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    other_key = tmp_path / "other_known_hosts"
    other_key.write_text(f"[127.0.0.1]:{server.port} {keygen(tmp_path / 'other_host')}\n")
    closed = free_port()
    url, key = server.url, str(server.key)
    cases = [
        (("--remote", "http://board"), None, "is not an ssh URL; expected ssh://[user@]host[:port]"),
        (("--remote", "ssh://"), None, "names no valid host"),
        (("--remote", "ssh://pi@board:99999"), None, "is not a valid ssh URL (Port out of range"),
        (("--remote", "ssh://pi:secret@board"), None, "passwords in the URL are not accepted"),
        (("--remote", "ssh://-oProxyCommand=touch%20x"), None, "names no valid host"),
        (("--remote", f"ssh://{server.user}@127.0.0.1:{closed}", "--identity", key), None,
         f"cannot reach 127.0.0.1 port {closed} ("),
        (("--remote", url, "--identity", str(stranger)), None, f"{server.user}@127.0.0.1 refused the login ("),
        (("--remote", url, "--identity", key), empty, f"the host key of [127.0.0.1]:{server.port} is not in your "
                                                      "known_hosts"),
        (("--remote", url, "--identity", key), other_key, f"the host key of [127.0.0.1]:{server.port} differs"),
        (("--remote", url, "--identity", key, "--remote-python", no_hwdiff), None,
         f"hwdiff is not installed for {sys.executable} on {server.user}@127.0.0.1 (ModuleNotFoundError"),
        (("--remote", url, "--identity", key, "--remote-python", other_version), None,
         f"{server.user}@127.0.0.1 has hwdiff 0.0.1 ({sys.executable}), this machine has hwdiff {__version__}; "
         f"both sides must run the same version"),
        (("--remote", url, "--identity", key, "--remote-python", old_python), None,
         f"{server.user}@127.0.0.1 runs Python 3.8.10 (/usr/bin/python3.8); hwdiff needs Python >= 3.10"),
        (("--remote", url, "--identity", key, "--remote-python", str(tmp_path / "nowhere" / "python")), None,
         "no usable Python"),
        (("--remote", url, "--identity", key, "--remote-python", server.python, "--device", "cuda"), None,
         f"on {server.user}@127.0.0.1: "),  # the board's own check: a backend it cannot run (no GPU there)
        (("--remote", url, "--identity", str(tmp_path / "no-such-key")), None, "no such key file"),
        (("--identity", key), None, "--identity and --remote-python go with --remote"),
    ]
    for args, known_hosts, message in cases:
        if known_hosts is not None:
            monkeypatch.setenv(SSH_CONFIG_ENV, str(server.ssh_config(known_hosts, "case_config")))
        result = cli("profile", *SMALL, *args)
        monkeypatch.setenv(SSH_CONFIG_ENV, str(server.client_config))
        assert result.code == 2, (args, result.err)
        [line] = error_lines(result)
        assert message in line, (args, line)
    assert not (hwdiff_home / "profiles").exists()

    bench = cli("bench-model", str(tmp_path / "missing.onnx"), "--remote", url, "--identity", key)
    assert bench.code == 2 and "does not exist" in error_lines(bench)[0]
    model = tmp_path / "identity.onnx"  # a valid model without a sidecar, made without exporting anything
    shape = [1, 3, 32, 32]
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "identity",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, shape)])), str(model))
    monkeypatch.setenv(SSH_CONFIG_ENV, str(server.ssh_config(empty, "case_config")))
    bench = cli("bench-model", str(model), "--remote", url, "--identity", key)
    assert bench.code == 2 and "is not in your known_hosts" in error_lines(bench)[0]


# -- the pieces -----------------------------------------------------------------------------------
def test_urls_and_the_ssh_command_line(monkeypatch, tmp_path):
    assert RemoteTarget.parse("ssh://nvidia@192.168.1.20") == RemoteTarget("nvidia", "192.168.1.20", 22)
    assert RemoteTarget.parse("ssh://board.local:2222/") == RemoteTarget(None, "board.local", 2222)
    v6 = RemoteTarget.parse("ssh://pi@[fe80::1]:22")
    assert v6.host == "fe80::1" and v6.url == "ssh://pi@[fe80::1]:22" and v6.known_hosts_name == "fe80::1"
    assert RemoteTarget.parse("ssh://pi@board:2022").known_hosts_name == "[board]:2022"
    for bad in ("board", "pi@board", "ssh://pi@board/path", "ssh://pi@board?x=1", "ssh://pi@board:0",
                "ssh://p;i@board", "ssh://[nothex]:22", "ssh://pi@bo$ard"):
        with pytest.raises(HwdiffError, match="--remote"):
            RemoteTarget.parse(bad)

    assert remote_word("~/venv/bin/python") == "~/venv/bin/python"
    assert remote_word("~/my env/python; rm -rf x") == "~/'my env/python; rm -rf x'"
    assert remote_word("/opt/py $(x)") == "'/opt/py $(x)'"
    monkeypatch.delenv(SSH_CONFIG_ENV, raising=False)
    key = tmp_path / "key"
    key.write_text("")
    remote = Remote("ssh://pi@board:2022", identity=key, python="~/v/bin/python")
    argv = remote.ssh_argv(remote.python_command("-m", "hwdiff", "profile", "--out", "/a b/c.json"))
    assert argv[-3:] == ["--", "board", "~/v/bin/python -m hwdiff profile --out '/a b/c.json'"]
    assert ["-p", "2022"] == argv[argv.index("-p"):argv.index("-p") + 2] and ["-l", "pi"] == argv[-5:-3]
    assert "BatchMode=yes" in argv and not any("StrictHostKeyChecking" in a for a in argv)
    crash = run_failure(remote, 1, ["Traceback (most recent call last):", "MemoryError"], "the profiling run", "keep")
    assert str(crash) == "the profiling run on pi@board stopped with exit code 1 (MemoryError); keep"
    progress = [f'{PROGRESS_PREFIX}{{"done": 3, "total": 9, "label": "x"}}']
    killed = run_failure(remote, 255, progress, "the profiling run", "keep")  # ssh's silence: the command got a signal
    assert str(killed).startswith("the profiling run on pi@board was killed (no exit status: a signal")
    board_lines = [*progress, "error: the partial run in X was made with rounds=2"]
    board_error = run_failure(remote, 2, board_lines, "run", "keep")
    assert str(board_error) == "on pi@board: the partial run in X was made with rounds=2"
