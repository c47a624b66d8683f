"""Benchmark: ``hwdiff train`` alone and beside one CPU-bound process, before and after the thread policy.

    python -m tools.bench_threads [--steps 500] [--repeats 1] [--variant NAME:ENV=VALUE,...] [--json FILE]

Each repeat runs every variant alone and then beside ``python -c "while True: pass"``, interleaved, so a
change in the machine's load hits all variants alike. A run is ``python -m hwdiff train --train-steps N
--force --json`` in a fresh ``HWDIFF_HOME``; its wall time and CPU time (user + system, from ``wait4``)
are recorded, and a sha256 of the stored weights (tensor bytes, not the file) shows whether the
variants train the same model.

Variants (default ``before`` and ``after``): ``before`` is libgomp's own waiting (spin 300,000 rounds
before sleeping, what an unset ``OMP_WAIT_POLICY`` gives), ``after`` is hwdiff's policy
(hwdiff/threads.py). OpenMP, MKL and hwdiff thread variables of the calling shell are not passed on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLEARED = ("OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "HWDIFF_THREADS")
VARIANTS = {"before": {"GOMP_SPINCOUNT": "300000"}, "after": {}}


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``name:K=V,K=V`` (``name:`` alone: no extra variables)."""
    name, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split(",") if item)
    return name, env


def child_env(extra: dict[str, str], home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    return {**env, **extra, "HWDIFF_HOME": home, "PYTHONPATH": str(REPO)}


def weights_sha256(model_file: Path) -> str:
    """sha256 over the stored tensors (the file's own hash differs run to run: zip record names)."""
    import torch

    digest = hashlib.sha256()

    def add(name: str, value) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                add(f"{name}.{key}", value[key])
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                add(f"{name}.{i}", item)
        else:
            digest.update(name.encode())
            digest.update(value.contiguous().numpy().tobytes())

    add("", torch.load(model_file, map_location="cpu", weights_only=True))
    return digest.hexdigest()


def run_train(steps: int, extra: dict[str, str]) -> dict:
    """One ``hwdiff train`` in a fresh store: wall seconds, CPU seconds, weights hash."""
    with tempfile.TemporaryDirectory(prefix="hwdiff-bench-threads-") as home:
        cmd = [sys.executable, "-m", "hwdiff", "train", "--train-steps", str(steps), "--force", "--json"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=child_env(extra, home), stdout=subprocess.PIPE)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"hwdiff train failed (exit {proc.returncode}) with {extra}")
        meta = json.loads(out)
        return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "train_s": meta["train_seconds_this_run"], "torch_threads": meta["torch_threads"],
                "weights_sha256": weights_sha256(Path(meta["path"]) / "model.pt")}


def run_beside_busy(steps: int, extra: dict[str, str]) -> dict:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return run_train(steps, extra)
    finally:
        busy.kill()
        busy.wait()


def summarize(runs: list[dict]) -> dict:
    alone = [r for r in runs if r["load"] == "alone"]
    busy = [r for r in runs if r["load"] == "busy"]
    wall_a, wall_b = (statistics.median(r["wall_s"] for r in rs) for rs in (alone, busy))
    cpu_a, cpu_b = (statistics.median(r["cpu_s"] for r in rs) for rs in (alone, busy))
    return {"alone_wall_s": wall_a, "busy_wall_s": wall_b, "wall_ratio": round(wall_b / wall_a, 2),
            "alone_cpu_s": cpu_a, "busy_cpu_s": cpu_b, "cpu_ratio": round(cpu_b / cpu_a, 2),
            "torch_threads": sorted({r["torch_threads"] for r in runs}),
            "weights_sha256": sorted({r["weights_sha256"] for r in runs})}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_threads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variant", action="append", type=parse_variant,
                        help="NAME:ENV=VALUE,... (repeatable; default: before and after)")
    parser.add_argument("--json", type=Path, help="Also write every run and the summary here.")
    args = parser.parse_args(argv)
    variants = dict(args.variant) if args.variant else VARIANTS
    runs = []
    for repeat in range(args.repeats):
        for load, run in (("alone", run_train), ("busy", run_beside_busy)):
            for name, extra in variants.items():
                result = {"variant": name, "load": load, "repeat": repeat, "loadavg": os.getloadavg()[0],
                          **run(args.steps, extra)}
                runs.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    summary = {name: summarize([r for r in runs if r["variant"] == name]) for name in variants}
    print(f"hwdiff train --train-steps {args.steps}, {args.repeats} repeat(s), {os.cpu_count()} CPUs; "
          "median of repeats; busy = beside one `while True: pass`")
    print("| variant | env | alone wall (s) | busy wall (s) | wall ratio | alone CPU (s) | busy CPU (s) | CPU ratio "
          "| weights |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        env = " ".join(f"{k}={v}" for k, v in variants[name].items()) or "-"
        print(f"| {name} | {env} | {s['alone_wall_s']:.1f} | {s['busy_wall_s']:.1f} | {s['wall_ratio']:.2f} | "
              f"{s['alone_cpu_s']:.1f} | {s['busy_cpu_s']:.1f} | {s['cpu_ratio']:.2f} | "
              f"{', '.join(h[:12] for h in s['weights_sha256'])} |")
    print("weights: sha256 of the trained tensors; one value per row means alone and busy trained the same model")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
