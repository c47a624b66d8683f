from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import hwdiff.hardware.profiling as profiling
from hwdiff.cli import main
from hwdiff.hardware.timing import TimingSettings


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


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but its derived caches (``cache/``, rebuilt at will): relative path ->
    (size, modification time in ns)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != "cache"
            } if root.exists() else {}


@pytest.fixture
def assert_refused(cli, hwdiff_home):
    """``assert_refused(*ARGS, option="--seed")`` runs ``hwdiff ARGS`` and asserts it was refused as bad input.

    Contract: a non-zero exit; exactly one line on stderr, that names ``option`` (with or without its dashes;
    for a path option pass the path, or whatever the line must hold); no traceback; no file under
    $HWDIFF_HOME created, changed or removed (derived caches under ``$HWDIFF_HOME/cache`` excepted).
    Returns the ``CliResult`` for further checks.
    """

    def check(*args: str, option: str) -> CliResult:
        before = _tree(hwdiff_home)
        result = cli(*args)
        lines = result.err.strip().splitlines()
        shown = f"hwdiff {' '.join(args)} -> exit {result.code}, stderr {result.err!r}"
        assert result.code != 0, shown
        assert len(lines) == 1 and "Traceback" not in result.err, shown
        assert option in lines[0] or option.lstrip("-") in lines[0], shown
        assert _tree(hwdiff_home) == before, f"{shown} changed $HWDIFF_HOME"
        return result

    return check


@pytest.fixture(scope="session")
def cheap_arch() -> str:
    """An NB201 cell whose network builds, trains and exports in a blink (one conv1x1, skips, zeros)."""
    return "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """A directory nobody may write to: chmod 555, or /sys where the tests run as root (root ignores modes)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.fixture(scope="session")
def quick_settings() -> TimingSettings:
    """Timing settings that take milliseconds: for tests of the profiling flow, not of its figures."""
    return TimingSettings(warmup_runs=1, warmup_s=0.0, min_repeats=3, max_repeats=5, target_ci=0.5, max_time_s=0.01,
                          min_sample_s=0.0)


@pytest.fixture
def quick_timing(monkeypatch, quick_settings) -> TimingSettings:
    """``hwdiff profile`` measures layers and networks with ``quick_settings``."""
    monkeypatch.setattr(profiling, "LAYER_TIMING", quick_settings)
    monkeypatch.setattr(profiling, "NETWORK_TIMING", quick_settings)
    return quick_settings


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine OpenMP spinning makes two threads many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
