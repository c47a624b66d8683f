"""Label budgets: the only way a budgeted search may learn an architecture's accuracy.

A real search can afford to train only a few hundred candidate networks. ``LabelBudget`` hands out
labels for at most ``budget`` distinct architectures and counts every one; asking for more raises
``BudgetExceeded``. Asking again for an architecture already labelled is free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class BudgetExceeded(RuntimeError):
    """A method asked for more labels than its budget allows (a bug in the method, not user input)."""


class LabelBudget:
    def __init__(self, label_fn: Callable[[list[str]], np.ndarray], budget: int):
        if budget <= 0:
            raise ValueError("a label budget must be positive")
        self._label_fn = label_fn
        self.budget = budget
        self.labels: dict[str, float] = {}

    @property
    def used(self) -> int:
        return len(self.labels)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    def query(self, archs: Sequence[str]) -> np.ndarray:
        """Labels of ``archs`` (canonical strings); new ones count against the budget."""
        new = list(dict.fromkeys(a for a in archs if a not in self.labels))
        if len(new) > self.remaining:
            raise BudgetExceeded(f"asked for {len(new)} new labels with {self.remaining} of {self.budget} left")
        if new:
            for arch, value in zip(new, self._label_fn(new)):
                self.labels[arch] = float(value)
        return np.array([self.labels[a] for a in archs])

    def best(self, k: int, allowed: Callable[[str], bool] = lambda _: True) -> list[str]:
        """The ``k`` labelled architectures with the highest label among those ``allowed``."""
        ranked = sorted((a for a in self.labels if allowed(a)), key=lambda a: -self.labels[a])
        return ranked[:k]


class BudgetAccuracy:
    """An accuracy oracle that knows only what a budget has paid for (NaN for everything else)."""

    def __init__(self, budget: LabelBudget, source: str, metric: str, space: str, dataset: str):
        self.budget, self.source, self.metric, self.space, self.dataset = budget, source, metric, space, dataset

    def predict(self, archs: Sequence[str]) -> tuple[np.ndarray, None]:
        return np.array([self.budget.labels.get(a, np.nan) for a in archs]), None

    def value_range(self) -> tuple[float, float]:
        values = list(self.budget.labels.values()) or [np.nan]
        return float(min(values)), float(max(values))
