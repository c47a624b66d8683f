"""Benchmark: few-shot device latency, leave-one-device-out over the shipped devices.

    python -m tools.bench_fewshot [--space nb201] [--networks 5 10 20 50] [--seeds 5] [--json FILE]

For each shipped device of the space: fit the few-shot latency model on the *other* devices only
(``tools.fit_latency_transfer``'s sources without it), draw N of its measured networks at random
(seeds 0..S-1), adapt, and score the prediction of every network it has measurements for: Spearman's
rho, MAPE and the share within +-10 %. Also reports the ceiling: the Spearman of a least-squares fit
on *all* of the device's measurements with the same features and basis (what no N can beat).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hwdiff.hardware.transfer import fit_transfer_model
from hwdiff.metrics import mape, share_within, spearman
from tools.fit_latency_transfer import SPACES, shipped_sources


def leave_one_out(space: str, networks: list[int], seeds: int) -> list[dict]:
    sources = shipped_sources(space)
    rows = []
    for device, (archs, latency) in sources.items():
        model = fit_transfer_model(space, {d: s for d, s in sources.items() if d != device})
        basis = model.basis(archs)
        design = np.concatenate([np.ones((len(archs), 1)), basis], axis=1)
        ceiling_fit = np.linalg.lstsq(design, np.log(latency), rcond=None)[0]
        row = {"device": device, "archs": len(archs), "ceiling_spearman": spearman(latency, design @ ceiling_fit)}
        for n in networks:
            scores = []
            for seed in range(seeds):
                pick = np.random.default_rng(seed).choice(len(archs), size=n, replace=False)
                fit = model.adapt([archs[i] for i in pick], latency[pick])
                pred = np.exp(fit.log_latency(basis))
                scores.append((spearman(latency, pred), mape(latency, pred), share_within(latency, pred, 0.10)))
            s = np.mean(scores, axis=0)
            row[str(n)] = {"spearman": s[0], "mape": s[1], "within_10pct": s[2]}
        rows.append(row)
        print(f"{space} {device:<15} " + "  ".join(f"N={n}: {row[str(n)]['spearman']:.3f}" for n in networks)
              + f"  ceiling {row['ceiling_spearman']:.3f}", file=sys.stderr)
    return rows


def summary(space: str, rows: list[dict], networks: list[int]) -> None:
    print(f"\n{space}: leave-one-device-out over {len(rows)} devices, mean over seeds")
    print("| N | mean Spearman | worst device | mean MAPE (%) | mean share within ±10 % |")
    print("|---|---|---|---|---|")
    for n in networks:
        sp = [r[str(n)]["spearman"] for r in rows]
        worst = int(np.argmin(sp))
        print(f"| {n} | {np.mean(sp):.3f} | {sp[worst]:.3f} ({rows[worst]['device']}) | "
              f"{np.mean([r[str(n)]['mape'] for r in rows]):.1f} | "
              f"{np.mean([r[str(n)]['within_10pct'] for r in rows]):.1%} |")
    print("\n| device | archs | " + " | ".join(f"N={n} Spearman / MAPE / ±10 %" for n in networks) + " | ceiling |")
    print("|---|---|" + "---|" * len(networks) + "---|")
    for r in rows:
        cells = " | ".join(f"{r[str(n)]['spearman']:.3f} / {r[str(n)]['mape']:.1f} % / {r[str(n)]['within_10pct']:.0%}"
                           for n in networks)
        print(f"| {r['device']} | {r['archs']} | {cells} | {r['ceiling_spearman']:.3f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_fewshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", action="append", choices=SPACES, help="Default: both.")
    parser.add_argument("--networks", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    results = {}
    for space in args.space or SPACES:
        results[space] = leave_one_out(space, args.networks, args.seeds)
        summary(space, results[space], args.networks)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
