"""Ctrl-C and SIGTERM during every long command: one line saying what was kept and which command line
resumes (or that nothing was kept)."""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hwdiff.generator.model as generator_model
import hwdiff.search.evaluation as evaluation


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_interrupt_before_the_first_checkpoint_says_nothing_was_kept(cli, monkeypatch, hwdiff_home):
    monkeypatch.setattr(generator_model.ArchGenerator, "fit", _interrupt)
    result = cli("train", "--train-steps", "300", "--seed", "3")
    assert result.code == 130
    assert result.err.strip() == ("interrupted: training stopped at step 0 of 300, before its first checkpoint: "
                                  "nothing kept; `hwdiff train --train-steps 300 --seed 3` trains from the start")
    assert not list(hwdiff_home.rglob("*.pt"))


def test_interrupted_search_names_the_command_line(cli, monkeypatch):
    monkeypatch.setattr(generator_model.ArchGenerator, "fit", _interrupt)
    result = cli("search", "--latency", "10ms", "--train-steps", "300")
    assert result.code == 130 and len(result.err.strip().splitlines()) == 1
    assert "`hwdiff search --latency 10ms --train-steps 300` trains from the start" in result.err


def test_interrupted_eval_says_what_is_kept(cli, monkeypatch):
    monkeypatch.setattr(evaluation, "evaluate", _interrupt)
    result = cli("eval", "--budget", "12", "--finalists", "2", "--seeds", "1")
    assert result.code == 130 and len(result.err.strip().splitlines()) == 1
    assert "pre-training stays stored" in result.err
    assert "`hwdiff eval --budget 12 --finalists 2 --seeds 1` reuses the pre-training" in result.err


@pytest.mark.parametrize("target,args,expected", [
    ("hwdiff.deploy.export.export", ("export", "--format", "torchscript"),
     "interrupted: each file is written whole or not at all; those finished stay; "
     "`hwdiff export --format torchscript` exports again"),
    ("hwdiff.deploy.bench.bench_model", ("bench-model", "net.onnx"),
     "interrupted: bench-model writes no file, nothing kept; `hwdiff bench-model net.onnx` measures again"),
    ("hwdiff.hardware.profiling.run_profile", ("profile", "--device", "cpu", "--validate", "0"),
     "interrupted: nothing was measured yet, nothing kept; `hwdiff profile --device cpu --validate 0` starts the "
     "run again"),
])
def test_other_long_commands_say_what_was_kept(cli, monkeypatch, target, args, expected):
    import hwdiff.deploy.source as source

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), name, _interrupt)
    monkeypatch.setattr(source, "resolve_source", lambda *args: None)  # export: no last search needed
    result = cli(*args)
    assert result.code == 130 and result.err.strip().splitlines()[-1] == expected  # profile first says what it runs


def test_interrupted_bench_search_keeps_the_generators(cli, monkeypatch):
    from hwdiff.search import benchmark

    monkeypatch.setitem(benchmark.PROTOCOLS, "nb201", _interrupt)
    result = cli("bench-search", "--samples", "10")
    assert result.code == 130 and len(result.err.strip().splitlines()) == 1
    assert "generators trained to the end stay stored" in result.err
    assert "`hwdiff bench-search --samples 10` reuses them and measures again" in result.err


def test_interrupted_profile_with_measurements_adds_resume(cli, monkeypatch, hwdiff_home):
    from hwdiff.hardware import profiling

    def measure_then_stop(plan, out, **kwargs):
        side = profiling.partial_path(profiling.profile_path(plan.filename, out))
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(profiling, "run_profile", measure_then_stop)
    result = cli("profile", "--device", "cpu", "--validate", "0")
    side = hwdiff_home / "profiles" / "cpu-nb201-pytorch-fp32-b1.json.partial"
    assert result.code == 130
    assert result.err.strip().splitlines()[-1] == (f"interrupted: the finished measurements are kept in {side}; "
                                  "`hwdiff profile --device cpu --validate 0 --resume` continues them")


def _stop_at_checkpoint(args: list[str], checkpoint_after: float, sig: int) -> subprocess.CompletedProcess:
    """Run ``hwdiff ARGS``; once a training checkpoint newer than ``checkpoint_after`` exists, send ``sig``."""
    home = Path(os.environ["HWDIFF_HOME"])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # A shell's background job (CI, nohup ... &) starts with SIGINT ignored, and Python then keeps ignoring
    # Ctrl-C: the child gets the default disposition back, as a command typed at a terminal has.
    proc = subprocess.Popen([sys.executable, "-m", "hwdiff", *args], env=env, cwd=Path(__file__).parents[1],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while not any(p.stat().st_mtime > checkpoint_after for p in home.rglob("checkpoint.pt")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.mark.slow
def test_ctrl_c_and_sigterm_during_training_keep_the_checkpoint_and_resume(hwdiff_home):
    # Far more steps than the run gets through: the signal always lands during training, however fast it runs.
    args = ["train", "--train-steps", "20000", "--seed", "5"]
    first = _stop_at_checkpoint(args, 0.0, signal.SIGINT)
    assert first.returncode == 130, first.stderr
    (checkpoint,) = hwdiff_home.rglob("checkpoint.pt")
    kept = re.fullmatch(rf"interrupted: training stopped at step \d+ of 20000; {re.escape(str(checkpoint))} keeps "
                        r"step (\d+); `hwdiff train --train-steps 20000 --seed 5` resumes from it",
                        first.stderr.strip())
    assert kept, first.stderr
    second = _stop_at_checkpoint(args, checkpoint.stat().st_mtime, signal.SIGTERM)  # resumed, then a newer checkpoint
    assert second.returncode == 143, second.stderr
    later = re.search(rf"{re.escape(str(checkpoint))} keeps step (\d+);", second.stderr)
    assert later and int(later.group(1)) > int(kept.group(1)) and len(second.stderr.strip().splitlines()) == 1
    assert not (checkpoint.parent / "model.pt").exists() and not (checkpoint.parent / "meta.json").exists()
