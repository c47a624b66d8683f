"""The label-budget protocol: accounting, sealing of the final table, determinism, baselines."""

import json

import numpy as np
import pytest

from hwdiff.data.nb201 import NB201Benchmark
from hwdiff.search import evaluation
from hwdiff.search.baselines import random_search, regularized_evolution
from hwdiff.search.budget import BudgetExceeded, LabelBudget
from hwdiff.search.budgeted import BudgetedConfig, local_candidates, name_finalists, one_choice_away
from hwdiff.search.evaluation import EvalConfig, evaluate
from hwdiff.spaces import get_space

SPACE = get_space("nb201")
ARCHS = SPACE.enumerate()
TINY = BudgetedConfig(initial_share=0.4, rounds=2, samples=60, round_steps=20, pretrain_steps=60, sampling_steps=5)


def fake_labels(archs):
    return np.array([SPACE.index(a) / 15625 for a in archs])


def test_budget_counts_distinct_archs_and_refuses_more():
    budget = LabelBudget(fake_labels, 3)
    budget.query(ARCHS[:2])
    budget.query(ARCHS[:2])  # asking again is free
    assert budget.used == 2 and budget.remaining == 1
    with pytest.raises(BudgetExceeded):
        budget.query(ARCHS[2:4])
    assert budget.used == 2  # a refused request labels nothing
    budget.query([ARCHS[5]])
    assert budget.best(2) == sorted(ARCHS[:2] + [ARCHS[5]], key=lambda a: -SPACE.index(a))[:2]


def test_random_search_spends_the_budget_and_names_the_best():
    budget = LabelBudget(fake_labels, 15)
    finalists = random_search(SPACE, budget, 4, seed=0)
    assert budget.used == 15 and len(finalists) == 4
    values = sorted(budget.labels.values(), reverse=True)
    assert [budget.labels[a] for a in finalists] == values[:4]
    assert random_search(SPACE, LabelBudget(fake_labels, 15), 4, seed=0) == finalists


def test_evolution_mutates_one_op_and_respects_feasibility():
    allowed = set(ARCHS[::2])
    budget = LabelBudget(fake_labels, 30)
    finalists = regularized_evolution(SPACE, budget, 5, seed=1, feasible=allowed.__contains__,
                                      population_size=6, sample_size=3)
    assert budget.used == 30 and len(finalists) == 5
    assert set(budget.labels) <= allowed and set(finalists) <= allowed
    labelled = list(budget.labels)
    # after the random population every new arch is one op away from some earlier one
    for child in labelled[6:]:
        assert any(sum(x != y for x, y in zip(SPACE.ops(child), SPACE.ops(p))) == 1
                   for p in labelled[:labelled.index(child)])


def test_one_choice_away_keeps_the_neighbours_of_the_parents_in_order():
    rng = np.random.default_rng(3)
    parent, stranger = SPACE.random_archs(2, rng)
    child = SPACE.mutate(parent, rng)
    grandchild = next(g for g in (SPACE.mutate(child, rng) for _ in range(50))
                      if sum(x != y for x, y in zip(SPACE.ops(g), SPACE.ops(parent))) == 2)
    assert one_choice_away(SPACE, [grandchild, child, stranger, parent], [parent]) == [child, parent]
    assert one_choice_away(SPACE, [child], []) == [] and one_choice_away(SPACE, [], [parent]) == []


def test_local_candidates_put_the_generators_neighbours_first_then_the_rest():
    rng = np.random.default_rng(4)
    parent, stranger = SPACE.random_archs(2, rng)
    proposed = SPACE.mutate(parent, rng)
    others = [a for a in (SPACE.mutate(parent, rng) for _ in range(20)) if a not in (proposed, parent)][:3]
    pool = [stranger, *others, proposed]
    local = local_candidates(SPACE, [stranger, proposed], pool, [parent])
    assert local[0] == proposed and local[1:] == others + [proposed]
    assert stranger not in local


def test_split_gives_every_budget_the_same_rounds():
    config = BudgetedConfig()
    assert [config.split(b) for b in (200, 100, 50)] == [(50, 30), (25, 15), (12, 8)]
    assert BudgetedConfig(initial_share=1.0).split(10) == (10, 1)


def test_finalists_favour_the_larger_cell_only_among_near_ties():
    """Real NB201 parameter counts: the all-3x3 cell beats a slightly better-labelled small cell, but
    a large cell outside the best 3 x k labels is not promoted, although its score would win."""
    small = "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    large = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    huge = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    others = [a for a in ARCHS if a not in (small, large, huge)][:5]
    labels = {small: 0.700, large: 0.6996, **{a: 0.699 - i / 2000 for i, a in enumerate(others)}, huge: 0.690}
    budget = LabelBudget(lambda batch: np.array([labels[a] for a in batch]), len(labels))
    budget.query(list(labels))

    def log_params(arch):
        return float(np.log(SPACE.param_count(arch, "cifar100")))

    def finalists(config, allowed=lambda _: True, sizes=log_params):
        return name_finalists(budget, 2, allowed, sizes, config)

    assert finalists(BudgetedConfig()) == [large, others[1]]  # the pool: the 6 best labels, huge is 8th
    assert finalists(BudgetedConfig(finalist_pool=4)) == [large, huge]
    assert finalists(BudgetedConfig(), sizes=None) == finalists(BudgetedConfig(capacity_bonus=0.0)) == [small, large]
    assert finalists(BudgetedConfig(), allowed=lambda a: a != large)[0] == others[1]


def tiny_config(**kw):
    return EvalConfig(dataset="cifar100", budget=20, finalists=3, seeds=2, budgeted=TINY, **kw)


@pytest.mark.slow  # trains a generator
def test_evaluate_is_budgeted_sealed_and_deterministic(monkeypatch):
    events = []
    real_accuracies = NB201Benchmark.accuracies

    def logged_accuracies(self, metric):
        events.append(("read", metric.key))
        return real_accuracies(self, metric)

    monkeypatch.setattr(NB201Benchmark, "accuracies", logged_accuracies)
    for name in ("budgeted_search", "random_search", "regularized_evolution"):
        real = getattr(evaluation, name)

        def wrapped(*args, _real=real, _name=name, **kwargs):
            events.append(("start", _name))
            out = _real(*args, **kwargs)
            events.append(("end", _name))
            return out

        monkeypatch.setattr(evaluation, name, wrapped)

    report = evaluate(tiny_config())
    first_end = next(i for i, e in enumerate(events) if e[0] == "end")
    test_reads = [i for i, e in enumerate(events) if e == ("read", "test200_cifar100")]
    assert test_reads and min(test_reads) > first_end, "the 200-epoch table was read before finalists were named"
    assert ("read", "valid12_cifar100") in events[:first_end]
    assert len(report.runs) == 6
    for run in report.runs:
        assert run.labels_used <= 20 and 1 <= len(run.finalists) <= 3
        assert 0 < run.test_accuracy <= 73.52
    again = evaluate(tiny_config())
    assert [(r.method, r.seed, r.test_accuracy, r.finalists) for r in report.runs] == \
        [(r.method, r.seed, r.test_accuracy, r.finalists) for r in again.runs]
    assert {s["method"] for s in report.summary} == {"hwdiff", "random", "evolution"}


@pytest.mark.slow  # trains a generator
def test_hardware_constrained_finalists_are_feasible():
    report = evaluate(tiny_config(device="fpga", latency_ms=3.0, methods=("random", "evolution")))
    from hwdiff.hardware import find_profile

    latency = find_profile("fpga", "nb201").predict
    for run in report.runs:
        assert (latency(run.finalists) <= 3.0).all()
    assert report.optimum < 73.51  # the best feasible cell is worse than the unconstrained optimum


def test_eval_json_contract(cli):
    result = cli("eval", "--dataset", "cifar10", "--budget", "12", "--finalists", "2", "--seeds", "2",
                 "--first-seed", "10", "--methods", "random,evolution", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert {r["method"] for r in doc["runs"]} == {"random", "evolution"}
    assert sorted({r["seed"] for r in doc["runs"]}) == [10, 11]
    for r in doc["runs"]:
        assert set(r) >= {"method", "seed", "test_accuracy", "labels_used", "finalists", "seconds"}
        assert r["labels_used"] == 12
    for s in doc["summary"]:
        assert set(s) >= {"method", "mean", "std", "min", "max"}
    assert doc["config"]["hwdiff"]["capacity_bonus"] == BudgetedConfig().capacity_bonus  # settings travel with results


@pytest.mark.parametrize("args, message", [
    (("--budget", "5", "--finalists", "10"), "below --finalists"),
    (("--budget", "0"), "must be a positive number"),
    (("--seeds", "-1"), "must be a positive number"),
    (("--first-seed", "-3"), "--first-seed must be 0 or more"),
    (("--methods", "hwdiff,genetic"), "unknown method(s) genetic"),
    (("--device", "toaster", "--latency", "5ms"), "unknown device 'toaster'"),
    (("--device", "pixel3"), "go together"),
    (("--space", "effnet"), "needs a complete accuracy table"),
    (("--dataset", "mnist"), "unknown dataset 'mnist'"),
])
def test_eval_bad_input(cli, args, message):
    result = cli("eval", *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
