"""``hwdiff search``: constraints -> conditioned samples -> scores -> a ranked list of feasible archs.

Constraints are bounds: accuracy *at least* ``--acc``, latency *at most* ``--latency``; the
generator was trained on bounds of the same kind (see ``ArchGenerator.fit``). Two choices steer the
samples towards the best feasible networks (measured in docs/performance.md):

* the accuracy bound is raised to the ``ACC_HINT_QUANTILE`` quantile of the training accuracies
  within the latency budget when that is higher than ``--acc`` (so samples crowd the top of the
  feasible set; ranking still uses ``--acc``);
* the latency bound is conditioned at ``LATENCY_MARGIN`` x the budget, because a learned bound
  leaks a little past its value; filtering still uses the budget itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hwdiff.diffusion.pipeline import Guidance
from hwdiff.errors import HwdiffError
from hwdiff.search.generator import DEFAULT_SAMPLING_STEPS, ArchGenerator
from hwdiff.search.scoring import Candidate, Scorer
from hwdiff.search.train import SearchContext
from hwdiff.search.training_set import TrainingSet

ACC_HINT_QUANTILE = 95.0
LATENCY_MARGIN = 0.85
DEFAULT_GUIDANCE = Guidance("joint", (2.0,))


@dataclass(frozen=True)
class Constraints:
    accuracy: float | None = None  # at least, fraction
    latency_ms: float | None = None  # at most

    def met(self, accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
        ok = np.ones(len(accuracy), dtype=bool)
        if self.accuracy is not None:
            ok &= accuracy >= self.accuracy
        if self.latency_ms is not None:
            ok &= latency <= self.latency_ms
        return ok


@dataclass
class SearchStats:
    samples: int
    valid: int
    unique: int
    novel: int
    feasible: float  # share of raw samples that meet every constraint, before filtering
    seconds: float
    archs_per_second: float


@dataclass
class SearchResult:
    space: str
    dataset: str
    device: str
    constraints: Constraints
    candidates: list[Candidate]
    stats: SearchStats
    targets: dict[str, float | None]
    accuracy_metric: str
    scored: list[Candidate] = field(default_factory=list)  # every unique valid sample
    best_within_latency: Candidate | None = None  # shown when nothing meets both constraints
    fastest_meeting_accuracy: Candidate | None = None

    def to_json(self) -> dict:
        return {
            "space": self.space, "dataset": self.dataset, "device": self.device,
            "constraints": {"acc": self.constraints.accuracy, "latency_ms": self.constraints.latency_ms},
            "candidates": [c.to_json() for c in self.candidates],
            "stats": self.stats.__dict__,
            "accuracy_metric": self.accuracy_metric,
            "targets": self.targets,
            "best_within_latency": self.best_within_latency.to_json() if self.best_within_latency else None,
            "fastest_meeting_accuracy": (self.fastest_meeting_accuracy.to_json()
                                         if self.fastest_meeting_accuracy else None),
        }


def check_reachable(ctx: SearchContext, training: TrainingSet, constraints: Constraints) -> None:
    """Refuse constraints no architecture of the space can meet, naming the reachable range."""
    lo_acc, hi_acc = ctx.oracle.value_range()
    lo_lat, hi_lat = float(training.latency_ms.min()), float(training.latency_ms.max())
    where = f"space {ctx.space.name} on device {ctx.device}"
    hint = "relax the constraint, or pick another --space or --device (see `hwdiff devices`)"
    if constraints.latency_ms is not None and constraints.latency_ms < lo_lat:
        raise HwdiffError(f"latency budget {constraints.latency_ms:g} ms is below the fastest network of {where} "
                          f"({lo_lat:.4g} ms; reachable {lo_lat:.4g}-{hi_lat:.4g} ms); {hint}")
    if constraints.accuracy is not None and constraints.accuracy > hi_acc:
        raise HwdiffError(f"accuracy {constraints.accuracy:.2%} is above the best {ctx.dataset} accuracy of "
                          f"{where} ({hi_acc:.2%}, {ctx.oracle.metric}; reachable {lo_acc:.2%}-{hi_acc:.2%}); "
                          f"{hint}")


def condition_targets(training: TrainingSet, constraints: Constraints) -> dict[str, float | None]:
    """The accuracy lower bound and latency upper bound the generator is conditioned on."""
    labelled = training.labelled
    within = labelled.copy()
    if constraints.latency_ms is not None:
        within &= training.latency_ms <= constraints.latency_ms
    pool = training.accuracy[within] if within.any() else training.accuracy[labelled]
    hint = float(np.percentile(pool, ACC_HINT_QUANTILE)) if len(pool) else None
    acc = constraints.accuracy
    if hint is not None:
        acc = hint if acc is None else max(acc, hint)
    latency = None if constraints.latency_ms is None else constraints.latency_ms * LATENCY_MARGIN
    return {"accuracy": acc, "latency_ms": latency}


def sample_archs(generator: ArchGenerator, targets: dict[str, float | None], samples: int, seed: int,
                 guidance: Guidance = DEFAULT_GUIDANCE, steps: int = DEFAULT_SAMPLING_STEPS) -> list[str | None]:
    def column(value: float | None) -> np.ndarray:
        return np.full(samples, np.nan if value is None else value)

    return generator.sample(column(targets["accuracy"]), column(targets["latency_ms"]), guidance, steps, seed)


def run_search(ctx: SearchContext, generator: ArchGenerator, training: TrainingSet, constraints: Constraints, *,
               top: int = 5, samples: int = 1000, seed: int = 0, guidance: Guidance = DEFAULT_GUIDANCE,
               steps: int = DEFAULT_SAMPLING_STEPS) -> SearchResult:
    if top <= 0:
        raise HwdiffError(f"--top must be at least 1, got {top}")
    if samples <= 0:
        raise HwdiffError(f"--samples must be at least 1, got {samples}")
    check_reachable(ctx, training, constraints)  # callers check before training too; this is cheap
    targets = condition_targets(training, constraints)
    started = time.perf_counter()
    raw = sample_archs(generator, targets, samples, seed, guidance, steps)
    seconds = time.perf_counter() - started

    valid = [a for a in raw if a is not None]
    unique = list(dict.fromkeys(valid))
    known = {a for a, ok in zip(training.archs, training.labelled) if ok}
    scorer = Scorer(ctx.space, ctx.dataset, ctx.oracle, ctx.profile, known)
    scored = scorer.score(unique)
    acc = np.array([c.accuracy for c in scored])
    lat = np.array([c.latency_ms for c in scored])
    ok = constraints.met(acc, lat) if scored else np.zeros(0, dtype=bool)
    feasible_archs = {c.arch for c, good in zip(scored, ok) if good}
    raw_feasible = sum(1 for a in raw if a in feasible_archs)

    order = sorted((i for i in range(len(scored)) if ok[i]), key=lambda i: (-acc[i], lat[i]))
    candidates = [scored[i] for i in order[:top]]
    for c in candidates:
        c.params = scorer.params(c.arch)
    result = SearchResult(
        space=ctx.space.name, dataset=ctx.dataset, device=ctx.device, constraints=constraints,
        candidates=candidates, targets=targets, accuracy_metric=ctx.oracle.metric, scored=scored,
        stats=SearchStats(samples=samples, valid=len(valid), unique=len(unique),
                          novel=sum(1 for c in scored if c.novel), feasible=raw_feasible / samples,
                          seconds=round(seconds, 3), archs_per_second=round(samples / max(seconds, 1e-9), 1)))
    if not candidates and scored:
        if constraints.latency_ms is not None:
            within = [i for i in range(len(scored)) if lat[i] <= constraints.latency_ms]
            if within:
                result.best_within_latency = scored[max(within, key=lambda i: acc[i])]
        if constraints.accuracy is not None:
            meeting = [i for i in range(len(scored)) if acc[i] >= constraints.accuracy]
            if meeting:
                result.fastest_meeting_accuracy = scored[min(meeting, key=lambda i: lat[i])]
        for c in (result.best_within_latency, result.fastest_meeting_accuracy):
            if c is not None:
                c.params = scorer.params(c.arch)
    return result
