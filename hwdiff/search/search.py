"""``hwdiff search``: constraints -> conditioned samples -> scores -> a ranked list of feasible archs.

Constraints are bounds: accuracy *at least* ``--acc``, latency *at most* ``--latency``; the
generator was trained on bounds of the same kind (see ``ArchGenerator.fit``). Two choices steer the
samples towards the best feasible networks (measured in docs/performance.md):

* the accuracy bound is raised to the ``ACC_HINT_QUANTILE`` quantile of the training accuracies
  within the latency budget when that is higher than ``--acc`` (so samples crowd the top of the
  feasible set; ranking still uses ``--acc``), but that hint is never above the accuracy that
  ``ACC_HINT_SUPPORT`` training architectures within the loosest latency bound reach: asked for a
  combination the data hardly holds, the generator gives up latency for accuracy;
* each sample's latency bound is drawn log-uniformly in ``LATENCY_MARGIN`` x the budget, because a
  learned bound leaks a little past its value, while the best feasible networks often sit just
  under the budget; filtering still uses the budget itself. The leak is about one choice of the
  architecture, so on a device where one choice moves latency more than ``LATENCY_STEP_REFERENCE``
  (in log ms; one op moves pixel3's latency by 0.43 on average, titan_rtx_1's, fpga's and
  gold_6226's by 0.13-0.17) the margin grows in proportion (``latency_step``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hwdiff.diffusion.pipeline import Guidance
from hwdiff.errors import HwdiffError, check_range
from hwdiff.generator.context import SearchContext
from hwdiff.generator.model import DEFAULT_SAMPLING_STEPS, ArchGenerator
from hwdiff.generator.training_set import TrainingSet, space_archs
from hwdiff.search.budget import BudgetAccuracy, LabelBudget
from hwdiff.search.budgeted import BudgetedConfig, BudgetUse, budgeted_search, pretrained_generator
from hwdiff.search.config import MAX_SAMPLES
from hwdiff.search.constraints import ConditionTargets, Constraints
from hwdiff.search.sampling import DEFAULT_GUIDANCE, sample_archs
from hwdiff.search.scoring import Candidate, Scorer

if TYPE_CHECKING:
    from hwdiff.generator.train import TrainedModel
    from hwdiff.hardware.profiles import LatencyKind
    from hwdiff.search.margin import LatencyMargin
    from hwdiff.search.verify import Verification

ACC_HINT_QUANTILE = 97.0
ACC_HINT_SUPPORT = 20  # training archs within the loosest latency bound that must meet the hint
LATENCY_MARGIN = (0.8, 0.95)  # x the budget where one changed choice moves latency less than the reference
LATENCY_STEP_REFERENCE = 0.19  # mean |change of log latency| of one changed choice, just above nb201's GPUs/FPGA


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
    targets: ConditionTargets | BudgetUse  # what the generator was conditioned on; with labels, the rounds
    accuracy_metric: str
    scored: list[Candidate] = field(default_factory=list)  # every unique valid sample
    best_within_latency: Candidate | None = None  # shown when nothing meets both constraints
    fastest_meeting_accuracy: Candidate | None = None
    model: TrainedModel | None = None  # the generator a plain search sampled from (api.search sets it)
    latency_kind: LatencyKind | None = None  # what the device profile's milliseconds are
    verification: Verification | None = None  # the top networks measured on the device (search --verify)
    margin: LatencyMargin | None = None  # the bound searched below the budget, for a profile's stated error

    def known_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy, latency) of the architectures the search knew: the generator's training set, or
        with a label budget, the labelled samples."""
        if self.model is not None:
            return self.model.training.accuracy, self.model.training.latency_ms
        known = self.scored + self.candidates
        return np.array([c.accuracy for c in known]), np.array([c.latency_ms for c in known])

    def to_json(self) -> dict:
        return {
            "space": self.space, "dataset": self.dataset, "device": self.device,
            "constraints": self.constraints.to_json(),
            "candidates": [c.to_json() for c in self.candidates],
            "stats": self.stats.__dict__,
            "accuracy_metric": self.accuracy_metric,
            "latency_kind": self.latency_kind.to_json() if self.latency_kind else None,
            "targets": self.targets.to_json(),
            "best_within_latency": self.best_within_latency.to_json() if self.best_within_latency else None,
            "fastest_meeting_accuracy": (self.fastest_meeting_accuracy.to_json()
                                         if self.fastest_meeting_accuracy else None),
            "generator": self.generator_json(),
            "margin": self.margin.to_json() if self.margin is not None else None,
            **({"verification": self.verification.to_json()} if self.verification is not None else {}),
        }

    def generator_json(self) -> dict:
        """Which generator answered: the shipped shared one, one trained for the device, or (with labels) the
        label-budget search's own."""
        if self.model is None:
            return {"kind": "label-budget"}
        kind = "shared" if self.model.generator.shared else "device"
        return {"kind": kind, "path": str(self.model.path), "reused": self.model.reused}


def check_reachable(ctx: SearchContext, training: TrainingSet, constraints: Constraints) -> None:
    """Refuse constraints no architecture of the space can meet, naming the reachable range."""
    lo_acc, hi_acc = ctx.oracle.value_range()
    lo_lat, hi_lat = float(training.latency_ms.min()), float(training.latency_ms.max())
    where = f"space {ctx.space.name} on device {ctx.device}"
    hint = "relax the constraint, or pick another --space or --device (see `hwdiff devices`)"
    if constraints.latency_ms is not None and constraints.latency_ms < lo_lat:
        raise HwdiffError(f"latency budget {constraints.latency_ms:g} ms is below the fastest network of {where} "
                          f"({lo_lat:.4g} ms; reachable {lo_lat:.4g}-{hi_lat:.4g} ms, "
                          f"{ctx.profile.latency_kind.label}); {hint}")
    if constraints.accuracy is not None and constraints.accuracy > hi_acc:
        note = ctx.oracle.scale_note()
        raise HwdiffError(f"accuracy {constraints.accuracy:.2%} is above the best {ctx.dataset} accuracy of "
                          f"{where} ({hi_acc:.2%}, {ctx.oracle.metric}; reachable {lo_acc:.2%}-{hi_acc:.2%})"
                          f"{'; ' + note if note else ''}; {hint}")


def latency_step(ctx: SearchContext, archs: list[str], n: int = 1000) -> float:
    """Mean |change of log latency| when one choice of an architecture changes: how coarsely a device's
    latency moves with the architecture (a fixed sample of ``archs``, so a search stays reproducible).
    Pairs the profile cannot time (a partial imported table) are left out; none left gives 0."""
    rng = np.random.default_rng(0)
    picked = [archs[i] for i in rng.choice(len(archs), min(n, len(archs)), replace=False)]
    mutated = [ctx.space.mutate(a, rng) for a in picked]
    before, after = np.asarray(ctx.profile.predict(picked)), np.asarray(ctx.profile.predict(mutated))
    timed = (before > 0) & (after > 0)  # NaN compares False
    return float(np.mean(np.abs(np.log(after[timed]) - np.log(before[timed])))) if timed.any() else 0.0


def condition_targets(training: TrainingSet, constraints: Constraints, step: float = LATENCY_STEP_REFERENCE
                      ) -> ConditionTargets:
    """The accuracy lower bound and the range of latency upper bounds the generator is conditioned on.

    ``step`` is the device's ``latency_step``: above the reference, the latency margin grows with it.
    """
    labelled = training.labelled
    within = labelled.copy()
    if constraints.latency_ms is not None:
        within &= training.latency_ms <= constraints.latency_ms
    pool = training.accuracy[within] if within.any() else training.accuracy[labelled]
    hint = float(np.percentile(pool, ACC_HINT_QUANTILE)) if len(pool) else None
    latency = None
    if constraints.latency_ms is not None:
        widen = max(1.0, step / LATENCY_STEP_REFERENCE)
        latency = tuple(constraints.latency_ms * m ** widen for m in LATENCY_MARGIN)
        reachable = np.sort(training.accuracy[labelled & (training.latency_ms <= latency[1])])
        if hint is not None and len(reachable):
            hint = min(hint, float(reachable[-min(ACC_HINT_SUPPORT, len(reachable))]))
    acc = constraints.accuracy
    if hint is not None:
        acc = hint if acc is None else max(acc, hint)
    return ConditionTargets(acc, latency)


def rank_samples(raw: list[str | None], scorer: Scorer, constraints: Constraints, top: int,
                 seconds: float) -> tuple[list[Candidate], list[Candidate], SearchStats]:
    """Score the distinct valid samples, keep those meeting the constraints, rank by accuracy.

    Returns (top candidates, every scored sample, stats).
    """
    valid = [a for a in raw if a is not None]
    unique = list(dict.fromkeys(valid))
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
    stats = SearchStats(samples=len(raw), valid=len(valid), unique=len(unique),
                        novel=sum(1 for c in scored if c.novel), feasible=raw_feasible / max(1, len(raw)),
                        seconds=round(seconds, 3), archs_per_second=round(len(raw) / max(seconds, 1e-9), 1))
    return candidates, scored, stats


def closest_alternatives(result: SearchResult, scorer: Scorer) -> None:
    """When nothing is feasible: the most accurate sample within the latency budget, the fastest one
    meeting the accuracy."""
    scored, c = result.scored, result.constraints
    if result.candidates or not scored:
        return
    acc = np.array([x.accuracy for x in scored])
    lat = np.array([x.latency_ms for x in scored])
    if c.latency_ms is not None and (lat <= c.latency_ms).any():
        result.best_within_latency = scored[int(np.argmax(np.where(lat <= c.latency_ms, acc, -np.inf)))]
    if c.accuracy is not None and (acc >= c.accuracy).any():
        result.fastest_meeting_accuracy = scored[int(np.argmin(np.where(acc >= c.accuracy, lat, np.inf)))]
    for x in (result.best_within_latency, result.fastest_meeting_accuracy):
        if x is not None:
            x.params = scorer.params(x.arch)


def run_search(ctx: SearchContext, generator: ArchGenerator, training: TrainingSet, constraints: Constraints, *,
               top: int = 5, samples: int = 1000, seed: int = 0, guidance: Guidance = DEFAULT_GUIDANCE,
               steps: int = DEFAULT_SAMPLING_STEPS) -> SearchResult:
    """Sample ``samples`` architectures under the constraints from a generator trained on ``training``."""
    _check_counts(top, samples)
    check_reachable(ctx, training, constraints)  # callers check before training too; this is cheap
    targets = condition_targets(training, constraints, latency_step(ctx, training.archs))
    started = time.perf_counter()
    raw = sample_archs(generator, targets, samples, seed, guidance, steps)
    seconds = time.perf_counter() - started
    known = {a for a, ok in zip(training.archs, training.labelled) if ok}
    scorer = Scorer(ctx.space, ctx.dataset, ctx.oracle, ctx.profile, known)
    candidates, scored, stats = rank_samples(raw, scorer, constraints, top, seconds)
    result = SearchResult(space=ctx.space.name, dataset=ctx.dataset, device=ctx.device, constraints=constraints,
                          candidates=candidates, targets=targets, accuracy_metric=ctx.oracle.metric,
                          latency_kind=ctx.profile.latency_kind,
                          scored=scored, stats=stats)
    closest_alternatives(result, scorer)
    return result


def labelled_search(ctx: SearchContext, constraints: Constraints, labels: int, *, top: int = 5, seed: int = 0,
                    config: BudgetedConfig = BudgetedConfig(),
                    pretrain_progress: Callable[[int, int, float], None] | None = None) -> SearchResult:
    """A search that may learn the accuracy of at most ``labels`` architectures (``--labels N``).

    The accuracy source is asked only through a ``LabelBudget``; the candidates are the best labelled
    architectures, so every accuracy shown was paid for. Plug a real evaluator in as ``ctx.oracle``.
    Unlabelled samples have no accuracy, so the feasible share counts the latency budget alone.
    """
    _check_counts(top, 1)
    if labels < top:
        raise HwdiffError(f"--labels {labels} is below --top {top}: only labelled architectures are returned")
    archs = space_archs(ctx.space, seed=0)
    latency = ctx.profile.predict(archs)
    check_reachable(ctx, TrainingSet(archs, np.full(len(archs), np.nan), latency), constraints)
    generator, _ = pretrained_generator(ctx.space, archs, ctx.profile, config.pretrain_steps,
                                        progress=pretrain_progress)
    budget = LabelBudget(lambda batch: ctx.oracle.predict(batch)[0], labels)
    started = time.perf_counter()
    found = budgeted_search(ctx.space, budget, generator, archs, labels, seed, latency, constraints,
                            ctx.space.equivalence(), config)
    seconds = time.perf_counter() - started
    paid = BudgetAccuracy(budget, ctx.oracle.source, ctx.oracle.metric, ctx.space.name, ctx.dataset)
    scorer = Scorer(ctx.space, ctx.dataset, paid, ctx.profile, known=set(budget.labels))
    _, scored, stats = rank_samples(found.raw, scorer, Constraints(latency_ms=constraints.latency_ms), 0, seconds)
    labelled = scorer.score(found.finalists)  # every feasible labelled arch, best label first
    ok = constraints.met(np.array([c.accuracy for c in labelled]), np.array([c.latency_ms for c in labelled]))
    candidates = [c for c, good in zip(labelled, ok) if good][:top]
    for c in candidates:
        c.params = scorer.params(c.arch)
    result = SearchResult(space=ctx.space.name, dataset=ctx.dataset, device=ctx.device, constraints=constraints,
                          candidates=candidates, accuracy_metric=ctx.oracle.metric, scored=scored, stats=stats,
                          latency_kind=ctx.profile.latency_kind,
                          targets=BudgetUse(labels, budget.used, found.rounds))
    closest_alternatives(result, scorer)
    return result


def _check_counts(top: int, samples: int) -> None:
    check_range("--top", top, 1, MAX_SAMPLES)
    check_range("--samples", samples, 1, MAX_SAMPLES)
