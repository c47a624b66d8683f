"""Search with a label budget: the diffusion generator decides which architectures to evaluate.

1. Pre-train the generator on every architecture *unlabelled* (shared by every seed and dataset:
   it sees structure and, with a device, latency -- nothing that costs a training run).
2. Label a share of the budget (``initial_share``) drawn at random (one per equivalence class).
3. ``rounds`` rounds share the rest: fine-tune on everything known (labelled graphs drawn as often
   as unlabelled ones), sample with the accuracy bound at a high quantile of the labels so far (and
   the latency bound), rank the proposals by how often the generator made them, and label half of
   the round among those one choice away from the best labelled ones (the generator's proposals
   first, then other such neighbours at random), the rest from the top.
4. Name as finalists the best labelled architectures that meet the latency budget; given the
   architectures' sizes, re-rank the best ``finalist_pool`` x finalists of them by label +
   ``capacity_bonus`` x ln(parameters) first (``name_finalists``).

Labels come only from a ``LabelBudget``, which counts them.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from hwdiff.diffusion.training import TrainConfig
from hwdiff.generator.model import ArchGenerator
from hwdiff.generator.scale import ConditionScale
from hwdiff.generator.store import ModelKey, ModelStore
from hwdiff.generator.training_set import TrainingSet
from hwdiff.hardware.profiles import Profile
from hwdiff.search.budget import LabelBudget
from hwdiff.search.config import BudgetedConfig
from hwdiff.search.constraints import ConditionTargets, Constraints
from hwdiff.search.sampling import sample_archs
from hwdiff.spaces.base import SearchSpace


def pretrain_unlabelled(space: SearchSpace, archs: list[str], latency_ms: np.ndarray | None, steps: int,
                        seed: int = 0, progress: Callable[[int, int, float], None] | None = None) -> ArchGenerator:
    """A generator trained on every architecture without accuracy (latency when known)."""
    lat = latency_ms if latency_ms is not None else np.full(len(archs), np.nan)
    training = TrainingSet(list(archs), np.full(len(archs), np.nan), lat)
    generator = ArchGenerator.create(space, training, seed=seed)

    def on_step(st) -> None:
        if progress:
            progress(st.step, steps, st.losses[-1])

    generator.fit(training, TrainConfig(steps=steps), seed, on_step=on_step)
    return generator


@dataclass(frozen=True)
class BudgetUse:
    """What a label-budget search reports as its targets: the budget, the labels it used, its rounds."""

    labels: int
    labels_used: int
    rounds: int

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class BudgetedResult:
    finalists: list[str]
    rounds: int = 0
    raw: list[str | None] = field(default_factory=list)  # every sample drawn, in order


def pretrained_generator(space: SearchSpace, archs: list[str], profile: Profile | None, steps: int,
                         store: ModelStore | None = None, progress: Callable[[int, int, float], None] | None = None
                         ) -> tuple[ArchGenerator, float]:
    """The unlabelled generator shared by every seed and dataset (stored; seconds = 0 when loaded)."""
    store = store or ModelStore()
    key = ModelKey(space.name, "unlabelled", profile.device if profile else "none",
                   profile.sha256 if profile else "none", 0, 0,
                   json.dumps({"pretrain_steps": steps, "archs": len(archs)}))
    with store.claim(key) as found:  # a second identical run waits here for the first, then loads its model
        if found is not None:
            return found[0], 0.0
        started = time.perf_counter()
        generator = pretrain_unlabelled(space, archs, profile.predict(archs) if profile else None, steps,
                                        progress=progress)
        seconds = time.perf_counter() - started
        store.save(key, generator, {"space": space.name, "purpose": "unlabelled pre-training for budgeted search",
                                    "device": profile.device if profile else None,
                                    "train_seconds_this_run": round(seconds, 1)})
        return generator, seconds


def one_choice_away(space: SearchSpace, candidates: list[str], parents: list[str]) -> list[str]:
    """The candidates (in their order) that differ from one of ``parents`` in at most one node or edge category."""
    if not candidates or not parents:
        return []
    cand_nodes, cand_edges = space.encode(candidates)
    par_nodes, par_edges = space.encode(parents)
    differ = ((cand_nodes[:, None] != par_nodes[None]).reshape(len(candidates), len(parents), -1).sum(-1)
              + (cand_edges[:, None] != par_edges[None]).reshape(len(candidates), len(parents), -1).sum(-1))
    return [arch for arch, near in zip(candidates, (differ <= 1).any(axis=1)) if near]


def local_candidates(space: SearchSpace, ranked: list[str], pool: list[str], parents: list[str]) -> list[str]:
    """Architectures one choice away from ``parents``: the generator's proposals in rank order, then the
    other neighbours in ``pool`` order -- the local step must not stall when the generator stops proposing them."""
    return one_choice_away(space, ranked, parents) + one_choice_away(space, pool, parents)


def name_finalists(budget: LabelBudget, finalists: int, feasible: Callable[[str], bool],
                   log_params: Callable[[str], float] | None, config: BudgetedConfig) -> list[str]:
    """The ``finalists`` labelled architectures to train in full.

    A short-schedule label underrates larger networks, which converge more slowly, so among the best
    ``finalist_pool`` x ``finalists`` labels the ranking adds ``capacity_bonus`` x ln(parameters):
    near-ties go to the larger network, a clearly worse label stays out. Without ``log_params``,
    the best labels.
    """
    if log_params is None or config.capacity_bonus == 0:
        return budget.best(finalists, feasible)
    pool = budget.best(finalists * config.finalist_pool, feasible)
    score = {a: budget.labels[a] + config.capacity_bonus * log_params(a) for a in pool}
    return sorted(pool, key=lambda a: -score[a])[:finalists]


def budgeted_search(space: SearchSpace, budget: LabelBudget, pretrained: ArchGenerator, archs: list[str],
                    finalists: int, seed: int, latencies: np.ndarray | None = None,
                    constraints: Constraints = Constraints(), equivalence: Callable[[str], Hashable] | None = None,
                    config: BudgetedConfig = BudgetedConfig(),
                    log_params: Callable[[str], float] | None = None) -> BudgetedResult:
    """Spend ``budget`` on architectures the generator proposes; name at most ``finalists`` of them.

    ``latencies``: of ``archs``, in order. Only ``constraints.latency_ms`` bounds what is labelled; the
    accuracy target is set each round from the labels. ``log_params``: ln(parameter count) of an
    architecture, for the finalists' capacity correction.
    """
    rng = np.random.default_rng(seed)
    key = equivalence or (lambda a: a)
    index = {a: i for i, a in enumerate(archs)}
    lat = latencies if latencies is not None else np.full(len(archs), np.nan)
    limit = constraints.latency_ms
    ok = np.ones(len(archs), dtype=bool) if limit is None else lat <= limit

    def feasible(arch: str) -> bool:
        i = index.get(arch)
        return i is not None and bool(ok[i])

    def fresh(candidates: list[str], n: int, taken: Sequence[str] = ()) -> list[str]:
        """Up to ``n`` feasible candidates whose equivalence class has no label yet (nor one in ``taken``)."""
        seen = {key(a) for a in [*budget.labels, *taken]}
        out: list[str] = []
        if n <= 0:
            return out
        for arch in candidates:
            k = key(arch)
            if k not in seen and feasible(arch):
                seen.add(k)
                out.append(arch)
                if len(out) == n:
                    break
        return out

    initial, per_round = config.split(budget.budget)
    pool = [archs[i] for i in rng.permutation(len(archs))]
    budget.query(fresh(pool, min(initial, budget.remaining)))

    generator = copy.deepcopy(pretrained)
    result = BudgetedResult([])
    round_no = 0
    while budget.remaining > 0:
        round_no += 1
        result.rounds = round_no
        labels = np.array([budget.labels.get(a, np.nan) for a in archs])
        training = TrainingSet(archs, labels, lat)
        if round_no == 1:  # the accuracy scale is fixed from the first labels; z-scores extend past them
            generator.scales["accuracy"] = ConditionScale.fit("accuracy", labels[training.labelled], log=False)
        generator.fit(training, replace(TrainConfig(), steps=config.round_steps, warmup_steps=20),
                      seed=seed * 1000 + round_no, labelled_share=config.labelled_share)
        bound = float(np.percentile(list(budget.labels.values()), config.acc_quantile))
        targets = ConditionTargets(bound, None if limit is None else (limit, limit))
        sampled = sample_archs(generator, targets, config.samples, seed * 1000 + round_no,
                               steps=config.sampling_steps)
        counts = Counter(a for a in sampled if a is not None)
        result.raw += sampled
        ranked = sorted(counts, key=lambda a: (-counts[a], rng.random()))
        wanted = min(per_round, budget.remaining)
        parents = budget.best(config.local_parents, feasible)
        chosen = fresh(local_candidates(space, ranked, pool, parents), round(wanted * config.local_share))
        chosen += fresh(ranked, wanted - len(chosen), chosen)
        if len(chosen) < wanted:  # the generator repeats itself: explore
            chosen += fresh(pool, wanted - len(chosen), chosen)
        if not chosen:
            break
        budget.query(chosen)
    result.finalists = name_finalists(budget, finalists, feasible, log_params, config)
    return result
