from __future__ import annotations

import pytest
import torch

from hwdiff.cli import main


@pytest.fixture(autouse=True)
def hwdiff_home(tmp_path, monkeypatch):
    """Every test gets its own empty user store."""
    home = tmp_path / "hwdiff-home"
    monkeypatch.setenv("HWDIFF_HOME", str(home))
    return home


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys):
    """Run ``hwdiff ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine OpenMP spinning makes two threads many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
