"""Settings of the diffusion core, apart from torch so that command-line help can read their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass

TIMESTEPS = 500  # as in DiGress / DiNAS
DEFAULT_SAMPLING_STEPS = 25


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 8000
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    edge_loss_weight: float = 5.0  # DiGress/DiNAS: loss = CE(nodes) + 5 CE(edges)
    drop_each: float = 0.15  # each condition dropped independently
    drop_all: float = 0.1  # all conditions dropped together
    bound_jitter: float = 0.5  # spread of the bound above/below the true value, in normalised units
    grad_clip: float = 1.0

    def to_json(self) -> dict:
        return asdict(self)
