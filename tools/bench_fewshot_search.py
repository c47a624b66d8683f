"""Benchmark: searching on a few-shot profile of a device the transfer model never saw.

    HWDIFF_HOME=/tmp/fs-home python -m tools.bench_fewshot_search [--dataset cifar10 ...] [--device pixel3 ...]
        [--networks 20] [--draw-seed 0] [--quantile 25 ...] [--generator device | --generator shared --models DIR]
        [--json FILE]

For each (dataset, device) of the bench-search grid (nb201; devices pixel3, fpga, titan_rtx_1,
gold_6226): the nb201 transfer model is refitted without the device, adapted to N of its networks
drawn at random from its shipped table (``--draw-seed``, default 0), and a generator is trained on
that few-shot profile (the per-device generator, as ``hwdiff search`` trains it). Then, for budgets at the 25/50/75 %
quantiles of the device's *true* latencies, one search of 1,000 samples (seed 0) aimed below the budget
as ``hwdiff search --confidence`` aims (``--confidence``, default 0.9; 0.5: at the budget), scored with the
true table: feasible = share of the unique valid samples truly within the budget; regret = best
200-epoch accuracy of all truly feasible cells minus that of the top-1 returned (``over`` marks a
top-1 whose true latency exceeds the budget). Each generator trains for minutes (one thread: about
8 on the 2-core Xeon VM); rows are printed as they come, and ``--json`` is rewritten after each.

``--generator shared --models DIR``: instead of training a generator on the few-shot profile, bind the
shared generator trained without the device (``python -m tools.train_shared_generator --exclude-device
DEVICE --out DIR/DEVICE``) to it: no training, and the device never seen by either model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hwdiff.generator.context import SearchContext
from hwdiff.generator.shared import shared_model
from hwdiff.generator.train import TrainedModel, train_model
from hwdiff.hardware.fewshot import DEFAULT_NETWORKS, FewShotProfile
from hwdiff.hardware.profiles import find_profile
from hwdiff.hardware.transfer import fit_transfer_model
from hwdiff.search.benchmark import DATASETS, DEVICES
from hwdiff.search.constraints import Constraints
from hwdiff.search.margin import DEFAULT_CONFIDENCE, aimed_constraints
from hwdiff.search.search import run_search
from hwdiff.spaces import get_space
from tools.fit_latency_transfer import shipped_sources

QUANTILES = (25, 50, 75)


def few_shot_profile(device: str, dataset: str, networks: int, sources: dict, draw_seed: int = 0) -> FewShotProfile:
    """The device's few-shot profile from ``networks`` random cells (drawn with ``draw_seed``), fitted without
    the device."""
    archs, latency = sources[device]
    pick = np.random.default_rng(draw_seed).choice(len(archs), size=networks, replace=False)
    model = fit_transfer_model("nb201", {d: s for d, s in sources.items() if d != device})
    return FewShotProfile.fit(device=device, space="nb201", dataset=dataset, archs=[archs[i] for i in pick],
                              latency_ms=latency[pick], model=model, provenance={
                                  "source": f"{networks} cells of the shipped {device} table (seed {draw_seed}), "
                                            "transfer model refitted without the device"})


def generator_for(ctx: SearchContext, profile: FewShotProfile, generator: str, models: Path | None) -> TrainedModel:
    if generator == "device":
        return train_model(ctx, seed=0)
    folder = models / ctx.device / f"nb201-{ctx.dataset}"
    model = shared_model(ctx, 0, folder, transfer=profile.model)
    if model is None:
        raise SystemExit(f"no shared generator in {folder}: train it with `python -m tools.train_shared_generator "
                         f"--dataset {ctx.dataset} --exclude-device {ctx.device} --out {models / ctx.device}`")
    return model


def run(datasets, devices, networks: int, out: Path | None, quantiles=QUANTILES, generator: str = "device",
        models: Path | None = None, confidence: float | None = DEFAULT_CONFIDENCE, draw_seed: int = 0) -> list[dict]:
    sources = shipped_sources("nb201")
    space = get_space("nb201")
    rows: list[dict] = []
    for dataset in datasets:
        oracle = space.accuracy_oracle(dataset)
        for device in devices:
            truth = find_profile(device, "nb201")
            profile = few_shot_profile(device, dataset, networks, sources, draw_seed)
            ctx = SearchContext(space, dataset, oracle, profile, device)
            model = generator_for(ctx, profile, generator, models)
            true_ms = truth.predict(model.training.archs)
            for q in quantiles:
                budget = float(np.percentile(true_ms, q))
                best = float(model.training.accuracy[true_ms <= budget].max())
                aimed, margin = aimed_constraints(Constraints(latency_ms=budget), confidence, profile.log_error_sd,
                                                  float(model.training.latency_ms.min()))
                result = run_search(ctx, model.generator, model.training, aimed, top=10, samples=1000, seed=0)
                scored = [c.arch for c in result.scored] or [c.arch for c in result.candidates]
                feasible = float(np.mean(truth.predict(scored) <= budget)) if scored else 0.0
                top = result.candidates[0] if result.candidates else None
                over = bool(top is not None and truth.predict([top.arch])[0] > budget)
                row = {"dataset": dataset, "device": device, "draw_seed": draw_seed, "quantile": q, "budget_ms": budget,
                       "bound_ms": aimed.latency_ms, "confidence": None if margin is None else margin.confidence,
                       "feasible": feasible, "best_feasible": 100 * best,
                       "returned": None if top is None else 100 * top.accuracy,
                       "regret": 100 * (best - (top.accuracy if top else 0.0)), "over": over,
                       "profile_spearman": profile.validation["spearman"],
                       "generator": generator, "train_seconds": model.meta.get("train_seconds_this_run", 0.0)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if out:
                    out.write_text(json.dumps(rows, indent=1) + "\n")
    regrets = [r["regret"] for r in rows]
    print(f"mean regret {np.mean(regrets):.2f} pp, max {np.max(regrets):.2f} pp; min feasible "
          f"{min(r['feasible'] for r in rows):.1%}; top-1 over budget {sum(r['over'] for r in rows)}/{len(rows)}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_fewshot_search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", choices=DATASETS)
    parser.add_argument("--device", action="append", choices=DEVICES)
    parser.add_argument("--networks", type=int, default=DEFAULT_NETWORKS)
    parser.add_argument("--quantile", action="append", type=int)
    parser.add_argument("--generator", choices=("device", "shared"), default="device")
    parser.add_argument("--models", type=Path, help="With --generator shared: DIR/DEVICE/nb201-DATASET per device.")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                        help="As `hwdiff search --confidence` (0.5: search at the budget itself).")
    parser.add_argument("--draw-seed", type=int, default=0, help="Seed of the few-shot profile's random cells.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.generator == "shared" and args.models is None:
        parser.error("--generator shared needs --models DIR")
    run(args.dataset or DATASETS, args.device or DEVICES, args.networks, args.json, tuple(args.quantile or QUANTILES),
        args.generator, args.models, args.confidence, args.draw_seed)


if __name__ == "__main__":
    main()
