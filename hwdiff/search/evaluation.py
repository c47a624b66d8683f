"""``hwdiff eval``: the NAS-Bench-201 label-budget protocol, hwdiff beside random search and evolution.

Per seed, each method may see the 12-epoch validation accuracy of at most ``budget`` cells it
chooses (through a ``LabelBudget``) and every cell unlabelled (with its latency when a device is
given); it names at most ``finalists`` cells. Only then is the 200-epoch test table read: the
result is the best 200-epoch test accuracy among the finalists (among the feasible ones under a
latency budget). The final table sits behind ``SealedTable`` so that no method can read it early.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from hwdiff.data.nb201 import nb201_benchmark
from hwdiff.data.oracle import NB201TableAccuracy
from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import find_profile
from hwdiff.search.baselines import random_search, regularized_evolution
from hwdiff.search.budget import LabelBudget
from hwdiff.search.budgeted import budgeted_search, pretrained_generator
from hwdiff.search.config import EvalConfig
from hwdiff.search.constraints import Constraints
from hwdiff.spaces import get_space


class SealedTable:
    """The final metric: readable only after ``open()``, which happens once finalists are named."""

    def __init__(self, load: Callable[[], np.ndarray]):
        self._load = load
        self._values: np.ndarray | None = None
        self.sealed = True

    def open(self) -> np.ndarray:
        self.sealed = False
        if self._values is None:
            self._values = self._load()
        return self._values


@dataclass
class RunResult:
    method: str
    seed: int
    test_accuracy: float  # percent; NaN when no finalist met the latency budget
    labels_used: int
    finalists: list[str]
    seconds: float


@dataclass
class EvalReport:
    config: EvalConfig
    runs: list[RunResult]
    pretrain_seconds: float
    optimum: float  # best 200-epoch test accuracy of all (feasible) cells
    ceiling: float  # best test accuracy among the top-`finalists` cells by 12-epoch validation
    seconds: float = 0.0
    summary: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        cfg = asdict(self.config)
        return {"config": cfg, "runs": [asdict(r) for r in self.runs], "summary": self.summary,
                "pretrain_seconds": self.pretrain_seconds, "optimum": self.optimum, "ceiling": self.ceiling,
                "seconds": self.seconds}


def summarize(runs: Sequence[RunResult], methods: Sequence[str]) -> list[dict]:
    out = []
    for method in methods:
        mine = [r for r in runs if r.method == method]
        acc = np.array([r.test_accuracy for r in mine], dtype=float)
        ok = acc[~np.isnan(acc)]
        out.append({"method": method,
                    "mean": float(ok.mean()) if ok.size else None,
                    "std": float(ok.std(ddof=1)) if ok.size > 1 else 0.0 if ok.size else None,
                    "min": float(ok.min()) if ok.size else None, "max": float(ok.max()) if ok.size else None,
                    "labels_used": float(np.mean([r.labels_used for r in mine])),
                    "seconds": float(np.mean([r.seconds for r in mine])),
                    "runs": len(mine), "no_feasible_finalist": int(np.isnan(acc).sum())})
    return out


def evaluate(cfg: EvalConfig, progress: Callable[[str, int], None] | None = None,
             pretrain_progress: Callable[[int, int, float], None] | None = None) -> EvalReport:
    """Run every method for every seed; ``progress(method, seed)`` after each run."""
    cfg.validate()
    started_all = time.perf_counter()
    space = get_space("nb201")
    archs = space.enumerate()
    profile = find_profile(cfg.device, "nb201") if cfg.device is not None else None
    latency = profile.predict(archs) if profile else None
    feasible_mask = np.ones(len(archs), dtype=bool) if latency is None else latency <= cfg.latency_ms
    if not feasible_mask.any():
        raise HwdiffError(f"no nb201 cell meets {cfg.latency_ms:g} ms on {cfg.device} (fastest: "
                          f"{latency.min():.4g} ms); give a larger --latency")
    index = {a: i for i, a in enumerate(archs)}

    def feasible(arch: str) -> bool:
        return bool(feasible_mask[index[arch]])

    valid12 = NB201TableAccuracy(cfg.dataset, 12, "valid")  # the search signal, paid for per label
    test200 = SealedTable(lambda: NB201TableAccuracy(cfg.dataset, 200, "test").all_values() * 100)

    def label(batch: list[str]) -> np.ndarray:
        return valid12.predict(batch)[0]

    classes = nb201_benchmark().isomorphism_classes()  # structure only: cells computing the same function

    def log_params(arch: str) -> float:  # structure only: the size of the network a finalist would train
        return math.log(space.param_count(arch, cfg.dataset))

    generator, pretrain_seconds = (None, 0.0)
    if "hwdiff" in cfg.methods:
        generator, pretrain_seconds = pretrained_generator(space, archs, profile, cfg.budgeted.pretrain_steps,
                                                           progress=pretrain_progress)

    runs: list[RunResult] = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        for method in cfg.methods:
            budget = LabelBudget(label, cfg.budget)
            started = time.perf_counter()
            if method == "hwdiff":
                finalists = budgeted_search(space, budget, generator, archs, cfg.finalists, seed, latency,
                                            Constraints(latency_ms=cfg.latency_ms), lambda a: classes[index[a]],
                                            cfg.budgeted, log_params).finalists
            elif method == "random":
                finalists = random_search(space, budget, cfg.finalists, seed, feasible)
            else:
                finalists = regularized_evolution(space, budget, cfg.finalists, seed, feasible)
            seconds = time.perf_counter() - started
            finalists = finalists[: cfg.finalists]
            table = test200.open()
            scores = [table[index[a]] for a in finalists if feasible(a)]
            runs.append(RunResult(method, seed, float(max(scores)) if scores else float("nan"), budget.used,
                                  finalists, round(seconds, 2)))
            if progress:
                progress(method, seed)
    table = test200.open()
    top_valid = np.argsort(-np.where(feasible_mask, valid12.all_values(), -np.inf))[: cfg.finalists]
    report = EvalReport(cfg, runs, round(pretrain_seconds, 1), optimum=float(table[feasible_mask].max()),
                        ceiling=float(table[top_valid].max()))
    report.summary = summarize(runs, cfg.methods)
    report.seconds = round(time.perf_counter() - started_all, 1)
    return report
