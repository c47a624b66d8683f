"""Settings of the label-budget search and of ``hwdiff eval``, apart from torch so that command-line
help and parsing read them without loading the search."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hwdiff.errors import SEED_LIMIT, HwdiffError, check_range
from hwdiff.search.constraints import check_latency

METHODS = ("hwdiff", "random", "evolution")
# Upper bounds of counts a user gives: what one machine samples and keeps in memory in minutes, not days
# (each sample, and each training step's loss, is kept until the run ends).
MAX_SAMPLES = 100_000
MAX_TRAIN_STEPS = 1_000_000
MAX_SEEDS = 1000  # hwdiff eval: every run of every seed is kept for the summary
GENERATORS = ("device", "shared", "auto")  # search --generator: auto = shared where one ships and nothing trains


def check_generator_choice(generator: str, labels: int | None, train_steps: int | None) -> None:
    """``--generator`` and the options that train: auto means shared only where nothing asks to train."""
    if generator not in GENERATORS:
        raise HwdiffError(f"--generator {generator!r} is not known; accepted: {', '.join(GENERATORS)}")
    if generator == "shared" and labels is not None:
        raise HwdiffError("--generator shared does not go with --labels: a label-budget search trains its own "
                          "generator on the labels it buys; drop one of the two")
    if generator == "shared" and train_steps is not None:
        raise HwdiffError("--generator shared does not go with --train-steps: the shared generator ships trained; "
                          "use --generator device to train one for the device")


@dataclass(frozen=True)
class BudgetedConfig:
    initial_share: float = 0.25  # share of the budget labelled at random before the first conditional round
    rounds: int = 5  # conditional rounds sharing the rest of the budget
    samples: int = 500  # samples per round
    round_steps: int = 200  # fine-tuning steps per round
    pretrain_steps: int = 4000  # unlabelled pre-training (shared)
    acc_quantile: float = 95.0  # accuracy bound = this quantile of the labels so far
    local_share: float = 0.5  # share of each round's labels for proposals one choice away from the best so far
    local_parents: int = 5  # how many of the best labelled architectures count as "the best so far"
    labelled_share: float = 0.5  # share of each training batch drawn from labelled archs
    sampling_steps: int = 25
    capacity_bonus: float = 0.02  # accuracy (fraction) per e-fold of parameters when naming finalists
    finalist_pool: int = 3  # the correction re-ranks only the best finalist_pool x finalists labels

    def to_json(self) -> dict:
        return asdict(self)

    def split(self, budget: int) -> tuple[int, int]:
        """(random labels first, labels per round) for a budget: the same number of rounds at every budget."""
        initial = min(budget, max(1, round(budget * self.initial_share)))
        return initial, max(1, -(-(budget - initial) // self.rounds))


@dataclass(frozen=True)
class EvalConfig:
    dataset: str = "cifar10"
    budget: int = 200
    finalists: int = 10
    seeds: int = 10
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1 (held-out seeds for settings tuned on 0..9)
    methods: tuple[str, ...] = METHODS
    device: str | None = None
    latency_ms: float | None = None
    budgeted: BudgetedConfig = BudgetedConfig()

    def validate(self) -> None:
        """Every value in its range before any work; a budget above the space's cells is refused, never
        allocated."""
        from hwdiff.spaces import get_space

        cells = get_space("nb201").size
        check_range("--budget", self.budget, 1, cells, " (the cells of nb201)")
        check_range("--finalists", self.finalists, 1, cells, " (the cells of nb201)")
        check_range("--seeds", self.seeds, 1, MAX_SEEDS)
        check_range("--first-seed", self.first_seed, 0, SEED_LIMIT - self.seeds,
                    " (seeds are 0 <= s < 2**32, the last one --first-seed + --seeds - 1)")
        if self.budget < self.finalists:
            raise HwdiffError(f"--budget {self.budget} is below --finalists {self.finalists}: a method can only "
                              "name cells it has labelled; give a budget of at least the number of finalists")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise HwdiffError(f"--methods: unknown method(s) {', '.join(unknown) or '(none given)'}; accepted: "
                              f"{', '.join(METHODS)}")
        if self.latency_ms is not None:
            check_latency(self.latency_ms, f"{self.latency_ms!r} ms")
        if (self.device is None) != (self.latency_ms is None):
            raise HwdiffError("--device and --latency go together: give both for the hardware-constrained "
                              "variant, or neither")
