"""Sampling under condition targets: the one rule by which every search conditions the generator."""

from __future__ import annotations

from hwdiff.diffusion.pipeline import Guidance
from hwdiff.generator.model import DEFAULT_SAMPLING_STEPS, ArchGenerator
from hwdiff.search.constraints import ConditionTargets

DEFAULT_GUIDANCE = Guidance("joint", (2.0,))


def sample_archs(generator: ArchGenerator, targets: ConditionTargets, samples: int, seed: int,
                 guidance: Guidance = DEFAULT_GUIDANCE, steps: int = DEFAULT_SAMPLING_STEPS) -> list[str | None]:
    """``samples`` architectures conditioned on ``targets`` (``ConditionTargets.sampler_inputs``)."""
    accuracy, latency = targets.sampler_inputs(samples, seed)
    return generator.sample(accuracy, latency, guidance, steps, seed)
