"""hwdiff.threads: how many torch threads and how they wait, fixed before torch loads."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hwdiff import threads as threads_module
from hwdiff.errors import HwdiffError
from hwdiff.threads import configure_threads, machine_is_free


def test_threads_wait_passively_on_a_busy_machine_and_keep_their_count():
    environ: dict[str, str] = {}
    configure_threads("train", environ, free=False)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_threads_keep_openmp_waiting_on_a_free_machine():
    environ: dict[str, str] = {}
    configure_threads("search", environ, free=True)
    assert environ == {}


@pytest.mark.parametrize("running, threads, free", [
    ("1/210", None, True),  # only this process: both cores are free for its 2 threads
    ("2/210", None, False),  # one neighbour running: passive
    ("2/210", 1, True),  # ... unless one thread is all this command uses
    ("3/210", 1, False),
])
def test_the_machine_is_free_when_running_tasks_leave_a_core_per_thread(tmp_path, monkeypatch, running, threads,
                                                                         free):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text(f"1.93 1.20 0.80 {running} 4242\n")
    monkeypatch.setattr(threads_module, "LOADAVG", loadavg)
    monkeypatch.setattr(threads_module, "usable_cpus", lambda: 2)
    assert machine_is_free(threads) is free


def test_a_machine_that_cannot_be_seen_waits_passively(tmp_path, monkeypatch):
    monkeypatch.setattr(threads_module, "LOADAVG", tmp_path / "absent")
    assert machine_is_free(None) is False
    (tmp_path / "absent").write_text("garbage\n")
    assert machine_is_free(None) is False


@pytest.mark.parametrize("variable", ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"])
def test_waiting_the_user_chose_is_kept(variable):
    environ = {variable: "1000"}
    configure_threads("train", environ)
    assert environ == {variable: "1000"}


@pytest.mark.parametrize("command", ["profile", "bench-model"])
def test_timing_commands_keep_openmp_waiting(command):
    environ: dict[str, str] = {}
    configure_threads(command, environ)
    assert environ == {}


def test_hwdiff_threads_sets_the_count_over_omp_num_threads(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)  # torch is loaded in this process
    environ = {"HWDIFF_THREADS": " 3 ", "OMP_NUM_THREADS": "1"}
    configure_threads("search", environ)
    assert environ["OMP_NUM_THREADS"] == "3" and calls == [3]


def test_omp_num_threads_alone_is_left_to_torch():
    environ = {"OMP_NUM_THREADS": "1"}
    configure_threads("eval", environ, free=False)
    assert environ == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_hwdiff_threads_is_one_line(value):
    expected = rf"HWDIFF_THREADS must be a whole number of threads, at least 1 \(got '{value}'\)"
    with pytest.raises(HwdiffError, match=expected):
        configure_threads("train", {"HWDIFF_THREADS": value})


def test_bad_hwdiff_threads_on_the_command_line(cli, monkeypatch):
    monkeypatch.setenv("HWDIFF_THREADS", "many")
    result = cli("devices")
    assert result.code == 2 and result.out == ""
    assert result.err == "error: HWDIFF_THREADS must be a whole number of threads, at least 1 (got 'many')\n"


def test_torch_started_after_the_policy_uses_its_thread_count(monkeypatch):
    monkeypatch.setenv("HWDIFF_THREADS", "1")
    for variable in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"):
        monkeypatch.delenv(variable, raising=False)
    probe = ("import os; from hwdiff.threads import configure_threads; configure_threads('train', free=False); "
             "import torch; print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.split() == ["1", "PASSIVE"]
