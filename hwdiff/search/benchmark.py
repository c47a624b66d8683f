"""The search benchmarks of docs/performance.md: training time, sampling speed, feasibility, regret.

nb201: for each (dataset, device) a generator is trained (or loaded) on every labelled cell; for each
latency budget at the given quantiles of the device's latencies, one search of ``samples``
architectures is run. Regret = best accuracy among all feasible cells (exhaustive, from the table)
minus the accuracy of the top-1 architecture the search returns.

effnet: no table lists the space, so the reference is the best *shipped record* within the budget
(budgets at quantiles of the records' measured latencies): the generator should find networks at
least as good, by the predictor, as the best known one.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from hwdiff.errors import HwdiffError
from hwdiff.generator.context import SearchContext, resolve_context
from hwdiff.generator.shared import shared_model
from hwdiff.generator.train import TrainedModel, train_model
from hwdiff.search.constraints import Constraints
from hwdiff.search.search import run_search

DEVICES = ("pixel3", "fpga", "titan_rtx_1", "gold_6226")
EFFNET_DEVICES = ("a100", "rtx3090", "tpuv2", "tpuv3", "zcu102", "vck190")
EFFNET_QUANTILES = (25, 50, 75)
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
    accuracy_metric: str = ""  # what the accuracies are (the oracle's metric)
    latency_kind: dict = field(default_factory=dict)  # what the budget's milliseconds are (LatencyKind.to_json)


@dataclass
class SpeedRow:
    batch: int
    archs_per_second: float
    valid: float
    unique: float  # distinct architectures among the valid samples of one call


def sampling_speed(generator, batches: Sequence[int] = (1, 100, 1000), repeats: int = 3) -> list[SpeedRow]:
    """Median archs/s of unconditional sampling at each batch size (one call = one batch); validity and
    uniqueness are the means over the calls."""
    rows = []
    for batch in batches:
        rates, valid, unique = [], [], []
        for r in range(repeats):
            nan = np.full(batch, np.nan)
            started = time.perf_counter()
            out = generator.sample(nan, nan, seed=r, batch_size=batch)
            rates.append(batch / (time.perf_counter() - started))
            archs = [a for a in out if a is not None]
            valid.append(len(archs) / batch)
            unique.append(len(set(archs)) / max(len(archs), 1))
        rows.append(SpeedRow(batch, float(np.median(rates)), float(np.mean(valid)), float(np.mean(unique))))
    return rows


def benchmark_model(ctx: SearchContext, generator: str, seed: int) -> tuple[TrainedModel, dict]:
    """The generator a benchmark row samples from -- trained for the device, or the shipped shared one -- and
    the row of the report's ``training`` list that says which."""
    if generator == "shared":
        model = shared_model(ctx, seed)
        if model is None:
            raise HwdiffError(f"no shared generator ships for {ctx.space.name}/{ctx.dataset}")
        seconds = 0.0
    else:
        model = train_model(ctx, seed=seed)
        seconds = model.meta["train_seconds_this_run"]
    return model, {"dataset": ctx.dataset, "device": ctx.device, "generator": generator, "reused": model.reused,
                   "train_seconds": seconds, "steps": model.meta["steps_done"],
                   "torch_threads": model.meta["torch_threads"]}


def run_benchmark(datasets: Sequence[str] = DATASETS, devices: Sequence[str] = DEVICES,
                  quantiles: Sequence[int] = QUANTILES, samples: int = 1000, seed: int = 0,
                  on_row: Callable[[object], None] | None = None, generator: str = "device") -> dict:
    budget_rows: list[BudgetRow] = []
    trainings = []
    speed: list[SpeedRow] = []
    for dataset in datasets:
        for device in devices:
            ctx = resolve_context("nb201", dataset, device)
            model, trained = benchmark_model(ctx, generator, seed)
            trainings.append(trained)
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
                                result.stats.seconds, ctx.oracle.metric, ctx.profile.latency_kind.to_json())
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


@dataclass
class RecordBudgetRow:
    device: str
    quantile: int
    budget_ms: float
    feasible: float
    returned_predicted: float | None  # percent, the top-1 sample's predicted accuracy
    returned_latency_ms: float | None  # by the device's profile
    record_predicted: float  # percent, predicted accuracy of the best record within the budget
    record_measured: float  # percent, that record's measured (proxy-trained) top-1
    unique: int
    archs_per_second: float
    accuracy_metric: str = ""  # what the predicted accuracies are (the oracle's metric)
    latency_kind: dict = field(default_factory=dict)  # what the budget's milliseconds are (LatencyKind.to_json)

    @property
    def margin(self) -> float | None:
        return None if self.returned_predicted is None else self.returned_predicted - self.record_predicted


def run_effnet_benchmark(devices: Sequence[str] = EFFNET_DEVICES, quantiles: Sequence[int] = EFFNET_QUANTILES,
                         samples: int = 1000, seed: int = 0, on_row: Callable[[object], None] | None = None,
                         generator: str = "device") -> dict:
    from hwdiff.data.effnet import effnet_records

    records = effnet_records()
    rows: list[RecordBudgetRow] = []
    trainings = []
    for device in devices:
        ctx = resolve_context("effnet", "imagenet", device)
        model, trained = benchmark_model(ctx, generator, seed)
        trainings.append(trained)
        if on_row:
            on_row(trainings[-1])
        measured = records.latency_ms(device)
        known = ~np.isnan(measured)
        archs = [a for a, k in zip(records.archs, known) if k]
        measured = measured[known]
        predicted_acc = ctx.oracle.predict(archs)[0]
        true_acc = records.column("val_top1")[known] / 100.0
        for q in quantiles:
            budget = float(np.percentile(measured, q))
            within = measured <= budget
            best = int(np.argmax(np.where(within, predicted_acc, -np.inf)))
            result = run_search(ctx, model.generator, model.training, Constraints(latency_ms=budget), top=1,
                                samples=samples, seed=seed)
            top = result.candidates[0] if result.candidates else None
            row = RecordBudgetRow(device, q, budget, result.stats.feasible,
                                  None if top is None else 100 * top.accuracy,
                                  None if top is None else top.latency_ms,
                                  100 * float(predicted_acc[best]), 100 * float(true_acc[best]),
                                  result.stats.unique, result.stats.archs_per_second, ctx.oracle.metric,
                                  ctx.profile.latency_kind.to_json())
            rows.append(row)
            if on_row:
                on_row(row)
    margins = [r.margin for r in rows]
    return {
        "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "training": trainings,
        "budgets": [{**asdict(r), "margin": r.margin} for r in rows],
        "summary": {"all_at_least_best_record": all(m is not None and m >= 0 for m in margins),
                    "min_margin": min((m for m in margins if m is not None), default=None),
                    "min_archs_per_second": min(r.archs_per_second for r in rows) if rows else None},
    }


Protocol = Callable[[Sequence[str] | None, Sequence[str] | None, Sequence[int] | None, int, int,
                     Callable[[object], None] | None, str], dict]

# bench-search's protocol per space: (datasets, devices, quantiles, samples, seed, on_row, generator) -> report;
# None takes the protocol's default set. A space needs a reference to be benchmarked against.
PROTOCOLS: dict[str, Protocol] = {
    "nb201": lambda datasets, devices, quantiles, samples, seed, on_row, generator: run_benchmark(
        datasets or DATASETS, devices or DEVICES, quantiles or QUANTILES, samples, seed, on_row, generator),
    "effnet": lambda datasets, devices, quantiles, samples, seed, on_row, generator: run_effnet_benchmark(
        devices or EFFNET_DEVICES, quantiles or EFFNET_QUANTILES, samples, seed, on_row, generator),
}
