"""hwdiff as a Python library: typed requests in, typed results out; the CLI only parses and renders.

    from hwdiff.api import Constraints, SearchRequest, search

    result = search(SearchRequest(constraints=Constraints(accuracy=0.93, latency_ms=10.0)))
    print(result.candidates[0].arch)

Library modules load inside each function, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hwdiff.search.constraints import Constraints
from hwdiff.search.margin import DEFAULT_CONFIDENCE, LatencyMargin
from hwdiff.search.verify import VerifyRequest

if TYPE_CHECKING:
    from hwdiff.deploy.export import ExportOptions, ExportResult
    from hwdiff.generator.context import SearchContext
    from hwdiff.generator.train import TrainedModel
    from hwdiff.generator.training_set import TrainingSet
    from hwdiff.hardware.fewshot_run import FewShotPlan
    from hwdiff.hardware.profiles import Profile
    from hwdiff.hardware.profiling import ProfilePlan, RunReport
    from hwdiff.search.evaluation import EvalConfig, EvalReport
    from hwdiff.search.search import SearchResult

__all__ = ["Constraints", "SearchRequest", "VerifyRequest", "evaluate", "export", "import_profile", "profile", "search",
           "train"]

Progress = Callable[[int, int, float], None]  # (step, total, loss) of generator training
SAMPLES = 1000  # plain search: architectures generated (with labels the budgeted search's own per round)


@dataclass(frozen=True)
class SearchRequest:
    """One search: where (space, dataset, device or a profile file), what (``constraints``), how.

    ``samples`` None: 1000, or with ``labels`` the label-budget search's per-round default;
    ``train_steps`` None: the default training (with ``labels``: its unlabelled pre-training);
    ``verify``: measure the top networks on the device afterwards (``hwdiff search --verify``).
    """

    space: str = "nb201"
    dataset: str | None = None
    device: str | None = None
    profile: Path | None = None
    constraints: Constraints = Constraints()
    top: int = 5
    samples: int | None = None
    labels: int | None = None
    seed: int = 0
    guidance: str = "joint"  # or "composed"
    weights: tuple[float, ...] = (2.0,)  # w for joint; (w_acc, w_lat) for composed
    steps: int | None = None  # sampling steps (None: the generator's default)
    train_steps: int | None = None
    verify: VerifyRequest | None = None  # measure the top networks on the device (search --verify)
    generator: str = "auto"  # "shared" (shipped, any device), "device" (trained for it), "auto": shared if shipped
    confidence: float | None = DEFAULT_CONFIDENCE  # aim below the budget to meet it with this probability (margin.py)

    def __post_init__(self) -> None:
        """Every value in its range, in one line naming the option, before anything is loaded or trained."""
        from hwdiff.diffusion.config import TIMESTEPS
        from hwdiff.errors import check_range
        from hwdiff.search.config import MAX_SAMPLES, check_generator_choice
        from hwdiff.search.margin import check_confidence

        check_guidance(self.guidance, self.weights)
        check_range("--top", self.top, 1, MAX_SAMPLES)
        check_range("--samples", self.samples, 1, MAX_SAMPLES)
        check_range("--steps", self.steps, 1, TIMESTEPS, " (the diffusion's timesteps)")
        check_training(self.space, self.labels, self.seed, self.train_steps)
        check_generator_choice(self.generator, self.labels, self.train_steps)
        check_confidence(self.confidence)


MAX_GUIDANCE_WEIGHT = 1000.0
GUIDANCE_EXAMPLE = "e.g. --guidance joint --weights 2, or --guidance composed --weights 1,3 (accuracy, latency)"


def check_guidance(mode: str, weights: tuple[float, ...]) -> None:
    """Guidance as the sampler will check it (mode, finite weights, one per condition when composed), so that
    bad guidance fails before training."""
    from hwdiff.diffusion.pipeline import Guidance
    from hwdiff.errors import HwdiffError
    from hwdiff.generator.scale import CONDITIONS

    try:
        if any(isinstance(w, (int, float)) and abs(w) > MAX_GUIDANCE_WEIGHT for w in weights):
            raise ValueError(f"a weight is at most {MAX_GUIDANCE_WEIGHT:g} in size (far below it, every sample is "
                             "already the same architecture; 1e300 overflows the sampler)")
        if mode == "composed" and len(weights) != len(CONDITIONS):
            raise ValueError(f"composed guidance takes one weight per condition ({', '.join(CONDITIONS)}), "
                             f"got {len(weights)}")
        Guidance(mode, tuple(weights))
    except (ValueError, TypeError) as exc:
        raise HwdiffError(f"bad guidance {mode!r} with weights {weights!r}: {exc}; {GUIDANCE_EXAMPLE}") from None


def check_training(space: str, labels: int | None, seed: int, train_steps: int | None) -> None:
    """The options train and search share, before anything is loaded: a label budget counts architectures
    hwdiff can label (at most all of them), seeds are 0 <= s < 2**32, training steps are bounded."""
    from hwdiff.errors import check_range, check_seed
    from hwdiff.generator.training_set import label_pool_size
    from hwdiff.search.config import MAX_TRAIN_STEPS
    from hwdiff.spaces import get_space

    check_range("--labels", labels, 1, None if labels is None else label_pool_size(get_space(space)),
                f" (the architectures of space {space} hwdiff trains on)")
    check_seed("--seed", seed)
    check_range("--train-steps", train_steps, 1, MAX_TRAIN_STEPS)


def train(space: str = "nb201", dataset: str | None = None, device: str | None = None,
          profile: Path | None = None, *, labels: int | None = None, seed: int = 0, train_steps: int | None = None,
          force: bool = False, constraints: Constraints | None = None, progress: Progress | None = None,
          on_problem: Callable[[str], None] | None = None) -> TrainedModel:
    """Load or train the generator for these settings; given ``constraints``, first refuse ones no
    architecture of the space can meet (before any training)."""
    from hwdiff.generator.context import resolve_context

    check_training(space, labels, seed, train_steps)
    return _trained(resolve_context(space, dataset, device, profile), labels, seed, train_steps, force, constraints,
                    progress, on_problem)


def _trained(ctx: SearchContext, labels: int | None, seed: int, train_steps: int | None, force: bool,
             constraints: Constraints | None, progress: Progress | None,
             on_problem: Callable[[str], None] | None) -> TrainedModel:
    from hwdiff.generator.train import DEFAULT_TRAIN, train_model
    from hwdiff.generator.training_set import build_training_set
    from hwdiff.search.search import check_reachable

    training = build_training_set(ctx.space, ctx.oracle, ctx.profile, labels, seed)
    if constraints is not None:
        check_reachable(ctx, training, constraints)
    config = DEFAULT_TRAIN if train_steps is None else replace(DEFAULT_TRAIN, steps=train_steps)
    return train_model(ctx, labels=labels, seed=seed, force=force, progress=progress, on_problem=on_problem,
                       train=config, training=training)


def search(request: SearchRequest, *, progress: Progress | None = None,
           on_problem: Callable[[str], None] | None = None,
           on_measure: Callable[[int, int, str], None] | None = None) -> SearchResult:
    """Architectures meeting ``request.constraints``; trains (or loads) the generator it samples from.

    With ``request.verify`` the device (or board) is checked before training, and the top networks are
    measured on it after the search (``on_measure(done, total, label)``), those over the budget dropped.
    """
    from hwdiff.diffusion.pipeline import Guidance
    from hwdiff.generator.context import resolve_context
    from hwdiff.generator.model import DEFAULT_SAMPLING_STEPS
    from hwdiff.search.budgeted import BudgetedConfig
    from hwdiff.search.search import labelled_search, run_search
    from hwdiff.search.verify import prepare_verification

    r = request
    ctx = resolve_context(r.space, r.dataset, r.device, r.profile)
    verifier = None if r.verify is None else prepare_verification(ctx.profile, ctx.dataset, r.verify)
    top = r.top if r.verify is None else max(r.top, r.verify.top)  # verified ones over budget are dropped
    if on_problem is not None:
        _warn_changed_stack(ctx.profile, on_problem)
    if r.labels is not None:
        aimed, margin = _aimed(ctx, r.constraints, r.confidence)
        config = BudgetedConfig()
        config = replace(config, samples=r.samples or config.samples,
                         pretrain_steps=r.train_steps or config.pretrain_steps)
        result = labelled_search(ctx, aimed, r.labels, top=top, seed=r.seed, config=config,
                                 pretrain_progress=progress)
    else:
        model = _shared(ctx, r) or _trained(ctx, None, r.seed, r.train_steps, False, r.constraints, progress,
                                            on_problem)
        aimed, margin = _aimed(ctx, r.constraints, r.confidence, model.training)
        result = run_search(ctx, model.generator, model.training, aimed, top=top,
                            samples=r.samples or SAMPLES, seed=r.seed, guidance=Guidance(r.guidance, r.weights),
                            steps=r.steps or DEFAULT_SAMPLING_STEPS)
        result.model = model
    result.constraints, result.margin = r.constraints, margin
    if verifier is not None:
        verifier.verify(result, r.top, progress=on_measure)
    return result


def _aimed(ctx: SearchContext, constraints: Constraints, confidence: float | None,
           training: TrainingSet | None = None) -> tuple[Constraints, LatencyMargin | None]:
    """The constraints to search with: the latency bound lowered by the profile's stated error (margin.py).
    The fastest network is read from ``training`` (the generator's), else predicted over the space."""
    from hwdiff.generator.training_set import space_archs
    from hwdiff.search.margin import aimed_constraints

    spread = ctx.profile.log_error_sd
    if constraints.latency_ms is None or confidence is None or spread <= 0:
        return constraints, None  # nothing to aim: skip predicting the space
    latency = training.latency_ms if training is not None else ctx.profile.predict(space_archs(ctx.space, seed=0))
    return aimed_constraints(constraints, confidence, spread, float(latency.min()))


def _shared(ctx: SearchContext, request: SearchRequest) -> TrainedModel | None:
    """The shipped shared generator bound to the device, or ``None`` where the request wants (``device``) or
    gets (``auto`` with none shipped, or asking to train) the per-device generator."""
    from hwdiff.errors import HwdiffError
    from hwdiff.generator.shared import shared_model
    from hwdiff.search.search import check_reachable

    if request.generator == "device" or (request.generator == "auto" and request.train_steps is not None):
        return None
    model = shared_model(ctx, request.seed)
    if model is None:
        if request.generator == "shared":
            raise HwdiffError(f"no shared generator ships for {ctx.space.name}/{ctx.dataset}; use `--generator device` "
                              "(trains one for the device)")
        return None
    check_reachable(ctx, model.training, request.constraints)
    return model


def _warn_changed_stack(profile: Profile, on_problem: Callable[[str], None]) -> None:
    """One line when the local software differs from the one the local profile was measured with."""
    from hwdiff.hardware.facts import local_stack_changes

    changes = local_stack_changes(profile.provenance)
    if changes:
        on_problem(f"profile {profile.name} was measured on this machine with {'; '.join(changes)}: its latencies "
                   f"may no longer hold; measure again with `hwdiff profile --device {profile.device} ... --force`")


def evaluate(config: EvalConfig, progress: Callable[[str, int], None] | None = None) -> EvalReport:
    """The NB201 label-budget protocol for one dataset (``hwdiff eval``)."""
    from hwdiff.search.evaluation import evaluate as run_evaluation

    return run_evaluation(config, progress=progress)


def profile(device: str, *, space: str = "nb201", out: Path | None = None, force: bool = False,
            resume: bool = False, progress: Callable[[int, int, str], None] | None = None,
            **plan_options) -> tuple[ProfilePlan | FewShotPlan, RunReport]:
    """Time a device's lookup-table layers and write its profile (``hwdiff profile``);
    ``plan_options`` go to ``plan_profile`` (dataset, backend, precision, batch_size, threads, ...), or
    with ``networks=N`` to ``plan_few_shot`` (a few-shot profile: ``hwdiff profile --networks N``)."""
    from hwdiff.hardware.fewshot_run import plan_few_shot
    from hwdiff.hardware.profiling import plan_profile, run_profile

    make_plan = plan_few_shot if plan_options.get("networks") is not None else plan_profile
    plan = make_plan(device, space=space, **plan_options)
    return plan, run_profile(plan, out, force=force, resume=resume, progress=progress)


def import_profile(table: Path, *, device: str, space: str = "nb201", dataset: str | None = None,
                   out: Path | None = None, force: bool = False) -> Profile:
    """Whole-network latencies measured elsewhere (a CSV) become a table profile, or a few-shot profile when
    they cover only part of the space (``hwdiff profile --from-table``)."""
    from hwdiff.hardware.table_import import import_latency_table

    return import_latency_table(table, device=device, space=space, dataset=dataset, out=out, force=force)


def export(source: str | None, options: ExportOptions, *, space: str | None = None, dataset: str | None = None,
           seed: int = 0) -> ExportResult:
    """Export a network (an architecture string, a stored fine-tuned model or a checkpoint) as
    ``options`` says (``hwdiff export``)."""
    from hwdiff.deploy.export import export as run_export
    from hwdiff.deploy.source import resolve_source

    return run_export(resolve_source(source, space, dataset, seed), options)
