"""The search benchmark of docs/performance.md: training time, sampling speed, feasibility, regret.

For each (dataset, device) a generator is trained (or loaded) on every labelled cell; for each
latency budget at the given quantiles of the device's latencies, one search of ``samples``
architectures is run. Regret = best accuracy among all feasible cells (exhaustive, from the table)
minus the accuracy of the top-1 architecture the search returns.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from hwdiff.search.search import Constraints, run_search
from hwdiff.search.train import resolve_context, train_model

DEVICES = ("pixel3", "fpga", "titan_rtx_1", "gold_6226")
DATASETS = ("cifar10", "cifar100", "imagenet16")
QUANTILES = (10, 25, 50, 75)


@dataclass
class BudgetRow:
    dataset: str
    device: str
    quantile: int
    budget_ms: float
    feasible: float
    regret: float  # percentage points
    best_feasible: float  # percent
    returned: float | None  # percent
    unique: int
    seconds: float


@dataclass
class SpeedRow:
    batch: int
    archs_per_second: float
    valid: float


def sampling_speed(generator, batches: Sequence[int] = (1, 100, 1000), repeats: int = 3) -> list[SpeedRow]:
    """Median archs/s of unconditional sampling at each batch size (one call = one batch)."""
    rows = []
    for batch in batches:
        rates, valid = [], []
        for r in range(repeats):
            nan = np.full(batch, np.nan)
            started = time.perf_counter()
            out = generator.sample(nan, nan, seed=r, batch_size=batch)
            rates.append(batch / (time.perf_counter() - started))
            valid.append(sum(a is not None for a in out) / batch)
        rows.append(SpeedRow(batch, float(np.median(rates)), float(np.mean(valid))))
    return rows


def run_benchmark(datasets: Sequence[str] = DATASETS, devices: Sequence[str] = DEVICES,
                  quantiles: Sequence[int] = QUANTILES, samples: int = 1000, seed: int = 0,
                  on_row: Callable[[object], None] | None = None) -> dict:
    budget_rows: list[BudgetRow] = []
    trainings = []
    speed: list[SpeedRow] = []
    for dataset in datasets:
        for device in devices:
            ctx = resolve_context("nb201", dataset, device)
            model = train_model(ctx, seed=seed)
            trainings.append({"dataset": dataset, "device": device, "reused": model.reused,
                              "train_seconds": model.meta["train_seconds_this_run"],
                              "steps": model.meta["steps_done"], "torch_threads": model.meta["torch_threads"]})
            if on_row:
                on_row(trainings[-1])
            if not speed:
                speed = sampling_speed(model.generator)
                for row in speed:
                    if on_row:
                        on_row(row)
            training = model.training
            for q in quantiles:
                budget = float(np.percentile(training.latency_ms, q))
                feasible = training.latency_ms <= budget
                best = float(training.accuracy[feasible].max())
                result = run_search(ctx, model.generator, training, Constraints(latency_ms=budget),
                                    top=1, samples=samples, seed=seed)
                returned = result.candidates[0].accuracy if result.candidates else None
                row = BudgetRow(dataset, device, q, budget, result.stats.feasible,
                                100 * (best - (returned if returned is not None else 0.0)), 100 * best,
                                None if returned is None else 100 * returned, result.stats.unique,
                                result.stats.seconds)
                budget_rows.append(row)
                if on_row:
                    on_row(row)
    regrets = np.array([r.regret for r in budget_rows])
    at_or_above_25 = [r.feasible for r in budget_rows if r.quantile >= 25]
    return {
        "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "training": trainings,
        "sampling": [asdict(r) for r in speed],
        "budgets": [asdict(r) for r in budget_rows],
        "summary": {"mean_regret": float(regrets.mean()), "max_regret": float(regrets.max()),
                    "min_feasible_at_or_above_q25": float(min(at_or_above_25)) if at_or_above_25 else None,
                    "mean_feasible": float(np.mean([r.feasible for r in budget_rows]))},
    }
