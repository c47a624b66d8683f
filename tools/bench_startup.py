"""Benchmark: wall time of the commands that only list or explain, beside ``python -c "import typer"``.

    python -m tools.bench_startup [--runs 11] [--json FILE]

Each command runs as ``python -m hwdiff ...`` from this checkout in one fresh ``HWDIFF_HOME``, where
the untimed first run of ``hwdiff devices`` builds the profile index (hardware/profile_index.py), as
any first listing does; the last row times ``hwdiff devices`` in a new, empty ``HWDIFF_HOME`` each run,
so it reads and checks every shipped profile (what a first listing costs). The runs go round-robin
(one of each command, then the next round), so a change in the machine's load hits every command
alike. Prints the median and the minimum per command and the median's distance from the
``import typer`` floor (target: within 0.3 s on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOOR = ("python -c 'import typer'", [sys.executable, "-c", "import typer"])
COMMANDS = [(f"hwdiff {' '.join(args)}", [sys.executable, "-m", "hwdiff", *args])
            for args in (["--help"], ["devices"], ["profiles"], ["search", "--help"])]
FIRST_LISTING = ("hwdiff devices (new HWDIFF_HOME: no profile index)", [sys.executable, "-m", "hwdiff", "devices"])


def wall_seconds(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--json", type=Path, help="Also write every time here.")
    args = parser.parse_args(argv)
    cases = [FLOOR, *COMMANDS, FIRST_LISTING]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    with tempfile.TemporaryDirectory(prefix="hwdiff-bench-startup-") as tmp:
        # Byte-code is written (as on an ordinary install), so the timed runs do not recompile hwdiff.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HWDIFF_HOME=str(Path(tmp) / "home"), PYTHONPATH=str(REPO))
        for _, cmd in cases:  # warm the file cache, the byte-code and the profile index once, untimed
            wall_seconds(cmd, env)
        for run in range(args.runs):
            for name, cmd in cases:
                fresh = {**env, "HWDIFF_HOME": str(Path(tmp) / f"new-home-{run}")}
                times[name].append(wall_seconds(cmd, fresh if name == FIRST_LISTING[0] else env))
    floor = statistics.median(times[FLOOR[0]])
    print(f"{args.runs} runs each, round-robin; load average {os.getloadavg()[0]:.2f} at the end")
    print("| command | median (s) | min (s) | median - floor (s) |")
    print("|---|---|---|---|")
    for name, _ in cases:
        median = statistics.median(times[name])
        print(f"| `{name}` | {median:.2f} | {min(times[name]):.2f} | {median - floor:+.2f} |")
    if args.json:
        args.json.write_text(json.dumps(times, indent=2) + "\n")


if __name__ == "__main__":
    main()
