"""Benchmark: a few-shot profile of this CPU against an independent timing of other networks.

    python -m tools.bench_fewshot_cpu [--networks 20] [--threads T] [--check 20] [--seed 100] [--profile FILE]
                                      [--json FILE]

1. Runs ``python -m hwdiff profile --device cpu --networks N --out TMP`` (its defaults: holdout, rounds,
   threads unless ``--threads``) and reports its wall time, from start to the profile on disk. With
   ``--profile FILE`` an existing few-shot profile is checked instead and nothing is profiled.
2. Times ``--check`` other random networks of the space (none of the profile's measured or held-out
   ones; ``--seed`` draws them), each afresh, with the profile's own backend, precision, batch size,
   threads, dataset, timing settings and rounds (median of the rounds), after the run.
3. Compares them with the profile's predictions: share within +-15 % (the target: >= 80 %), +-10 %,
   MAPE, Spearman, beside the error the profile states on its held-out networks.

Run it on a quiet machine: whatever else runs slows the measurements unevenly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwdiff.hardware.backends import BackendOptions, create_backend
from hwdiff.hardware.fewshot import FewShotProfile, random_archs
from hwdiff.hardware.profiles import read_profile
from hwdiff.hardware.timing import TimingSettings, measure_latency
from hwdiff.metrics import mape, share_within, spearman
from hwdiff.spaces import get_space


def run_profile_command(networks: int, out: Path, threads: int | None) -> float:
    """Wall seconds of ``hwdiff profile --device cpu --networks N`` as a user runs it."""
    started = time.perf_counter()
    extra = ["--threads", str(threads)] if threads is not None else []
    subprocess.run([sys.executable, "-m", "hwdiff", "profile", "--device", "cpu", "--networks", str(networks),
                    *extra, "--out", str(out), "--force"], check=True)
    return time.perf_counter() - started


def time_networks(profile: FewShotProfile, archs: list[str]) -> np.ndarray:
    """Each arch timed as the profile's run timed its networks: same backend, settings and rounds."""
    prov = profile.provenance
    plan = prov["plan"]
    backend = create_backend(prov["backend"], BackendOptions(target=prov["target"], precision=prov["precision"],
                                                             threads=prov["threads"], batch_size=prov["batch_size"]))
    settings = TimingSettings(**plan["network_timing"])
    space = get_space(profile.space)
    shape = space.dataset(profile.dataset).input_size
    runners = [backend.prepare(space.create_model(arch, profile.dataset), shape) for arch in archs]
    rounds = [[measure_latency(runner, settings).median_ms for runner in runners] for _ in range(plan["rounds"])]
    return np.median(np.array(rounds), axis=0)


def compare(profile: FewShotProfile, check: int, seed: int) -> dict:
    taken = profile.archs + (profile.holdout[0] if profile.holdout else [])
    archs = random_archs(profile.space, check, np.random.default_rng(seed), exclude=taken)
    measured = time_networks(profile, archs)
    predicted = profile.predict(archs)
    return {"archs": archs, "measured_ms": measured.tolist(), "predicted_ms": predicted.tolist(),
            "within_15pct": share_within(measured, predicted, 0.15),
            "within_10pct": share_within(measured, predicted, 0.10),
            "mape": mape(measured, predicted), "spearman": spearman(measured, predicted)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_fewshot_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--threads", type=int, help="Pass --threads to the profile command (default: its own).")
    parser.add_argument("--check", type=int, default=20, help="Other networks to time independently.")
    parser.add_argument("--seed", type=int, default=100, help="Seed of the networks to check.")
    parser.add_argument("--profile", type=Path, help="Check this few-shot profile instead of measuring one.")
    parser.add_argument("--json", type=Path, help="Write every figure here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = None
        path = args.profile
        if path is None:
            path = Path(tmp) / "cpu-nb201-fewshot.json"
            seconds = run_profile_command(args.networks, path, args.threads)
        profile = read_profile(path)
    if not isinstance(profile, FewShotProfile):
        sys.exit(f"error: {path} is a {profile.kind} profile, not a few-shot one")
    result = compare(profile, args.check, args.seed)
    stated = profile.validation
    prov = profile.provenance
    print(f"machine: {prov['facts_before']['cpu']['model']}, {os.cpu_count()} CPUs, load average before "
          f"{prov['load_average']['before']}; {prov['backend']} {prov['precision']} batch {prov['batch_size']}, "
          f"{prov['threads']} thread(s), {profile.dataset}")
    if seconds is not None:
        held = len(profile.holdout[0]) if profile.holdout else 0
        print(f"`hwdiff profile --device cpu --networks {args.networks}`: {seconds:.1f} s wall (run "
              f"{prov['duration_s']} s; {len(profile.archs)} design + {held} held-out networks, "
              f"{prov['plan']['rounds']} rounds)")
    print(f"stated error ({stated['method']}): MAPE {stated['mape']:.1f} %, within ±10 % "
          f"{stated['within_10pct']:.0%}, Kendall tau {stated['kendall_tau']:.3f}, Spearman {stated['spearman']:.3f}")
    print(f"independent timing of {args.check} other networks: within ±15 % {result['within_15pct']:.0%} "
          f"(target >= 80 %), within ±10 % {result['within_10pct']:.0%}, MAPE {result['mape']:.1f} %, "
          f"Spearman {result['spearman']:.3f}")
    if args.json:
        doc = {"profile_seconds": seconds, "stated": stated, "independent": result,
               "profile": {**profile.to_json(), "provenance": {k: prov[k] for k in (
                   "backend", "precision", "batch_size", "threads", "plan", "duration_s", "load_average")}}}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
