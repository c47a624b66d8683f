"""Two identical runs on an empty store: the second waits for the first and loads its model (one training)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _hwdiff(args: list[str], home: Path) -> subprocess.Popen:
    env = dict(os.environ, HWDIFF_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "hwdiff", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert proc.poll() is None, f"exited before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.1)


def test_second_identical_train_waits_for_the_first_and_loads_its_model(hwdiff_home):
    args = ["train", "--train-steps", "20", "--seed", "11", "--json"]
    first = _hwdiff(args, hwdiff_home)
    models = hwdiff_home / "models"

    def first_holds_the_lock() -> bool:
        return any(p.read_text().strip() == str(first.pid) for p in models.glob("*.lock")) if models.exists() \
            else False

    _wait_for(first_holds_the_lock, first, "lock held by the first run")
    first.send_signal(signal.SIGSTOP)  # it trains no further until the second run is seen waiting
    try:
        second = _hwdiff(args, hwdiff_home)
        waiting = second.stderr.readline()
        assert f"waiting for another run training the same model (pid {first.pid})" in waiting, waiting
    finally:
        first.send_signal(signal.SIGCONT)
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    trained, loaded = json.loads(out1), json.loads(out2)
    assert trained["reused"] is False and loaded["reused"] is True
    assert loaded["path"] == trained["path"] and loaded["model_sha256"] == trained["model_sha256"]
    assert len([p for p in models.iterdir() if p.is_dir()]) == 1
