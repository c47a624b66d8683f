"""What a generator is trained on and scored with: space, dataset, accuracy oracle, device profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hwdiff.hardware.profiles import Profile, find_profile
from hwdiff.spaces import get_space
from hwdiff.spaces.base import SearchSpace

if TYPE_CHECKING:
    from hwdiff.data.oracle import AccuracyOracle


@dataclass
class SearchContext:
    """Everything a generator is trained on and scored with, resolved from names."""

    space: SearchSpace
    dataset: str
    oracle: AccuracyOracle
    profile: Profile
    device: str


def resolve_context(space: str, dataset: str | None, device: str | None, profile_path: Path | None = None
                    ) -> SearchContext:
    """Names -> objects; ``dataset``/``device`` None mean the space's defaults (printed by the commands)."""
    sp = get_space(space)
    dataset = sp.dataset_name(dataset)
    device = sp.default_device if device is None else device
    oracle = sp.accuracy_oracle(dataset)
    profile = find_profile(device, space, profile_path)
    return SearchContext(sp, dataset, oracle, profile, profile.device)
