"""Baselines with the same label budget: random search and regularised evolution (Real et al., 2019)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from hwdiff.search.budget import LabelBudget
from hwdiff.spaces.base import SearchSpace

Feasible = Callable[[str], bool]


def _feasible_random(space: SearchSpace, rng: np.random.Generator, feasible: Feasible, exclude: set[str],
                     n: int) -> list[str]:
    """Up to ``n`` distinct uniform draws that are feasible and not in ``exclude``."""
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < 1000:
        tries += 1
        for arch in space.random_archs(4 * (n - len(out)), rng):
            if arch not in exclude and feasible(arch) and arch not in out:
                out.append(arch)
                if len(out) == n:
                    break
    return out


def random_search(space: SearchSpace, budget: LabelBudget, finalists: int, seed: int,
                  feasible: Feasible = lambda _: True) -> list[str]:
    """Label ``budget`` distinct random (feasible) architectures; name the best ``finalists``."""
    rng = np.random.default_rng(seed)
    budget.query(_feasible_random(space, rng, feasible, set(), budget.remaining))
    return budget.best(finalists, feasible)


def regularized_evolution(space: SearchSpace, budget: LabelBudget, finalists: int, seed: int,
                          feasible: Feasible = lambda _: True, population_size: int = 20,
                          sample_size: int = 5) -> list[str]:
    """Aging evolution: tournament of ``sample_size``, mutate one choice of the winner, drop the oldest."""
    rng = np.random.default_rng(seed)
    population: deque[str] = deque()
    for arch in _feasible_random(space, rng, feasible, set(), min(population_size, budget.remaining)):
        budget.query([arch])
        population.append(arch)
    while budget.remaining > 0 and population:
        picks = rng.choice(len(population), size=min(sample_size, len(population)), replace=False)
        parent = max((population[i] for i in picks), key=lambda a: budget.labels[a])
        child = parent
        for _ in range(100):  # a fresh, feasible child; labelled ones would cost nothing but teach nothing
            child = space.mutate(parent, rng)
            if child not in budget.labels and feasible(child):
                break
        else:
            child = (_feasible_random(space, rng, feasible, set(budget.labels), 1) or [parent])[0]
            if child in budget.labels:
                break
        budget.query([child])
        population.append(child)
        if len(population) > population_size:
            population.popleft()
    return budget.best(finalists, feasible)
