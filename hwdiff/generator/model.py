"""A trained conditional generator: denoiser + transitions + condition scales for one space.

The only place a space's graph encoding meets the diffusion core (``graph_layout``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hwdiff.diffusion.config import DEFAULT_SAMPLING_STEPS, TIMESTEPS
from hwdiff.diffusion.denoiser import DenoiserConfig, GraphDenoiser
from hwdiff.diffusion.graphs import GraphBatch, GraphLayout
from hwdiff.diffusion.noise import CosineSchedule, MarginalTransitions
from hwdiff.diffusion.pipeline import Guidance, GuidedSampler
from hwdiff.diffusion.training import ConditionedGraphs, TrainConfig, TrainState, train_denoiser
from hwdiff.generator.scale import CONDITIONS, ConditionScale
from hwdiff.generator.training_set import TrainingSet
from hwdiff.spaces.base import GraphSpec, SearchSpace


def graph_layout(spec: GraphSpec) -> GraphLayout:
    """The diffusion core's view of a space's graph encoding (diffusion itself knows no spaces)."""
    n = spec.num_nodes
    fixed = spec.fixed_edges if spec.fixed_edges is not None else np.zeros((n, n), dtype=np.int64)
    return GraphLayout(
        num_nodes=n,
        node_classes=tuple(len(a.categories) for a in spec.node_attributes),
        edge_classes=len(spec.edge_categories),
        node_mask=torch.as_tensor(spec.node_mask),
        edge_mask=torch.as_tensor(spec.edge_mask),
        allowed=tuple(torch.as_tensor(spec.allowed_mask(a)) for a in range(len(spec.node_attributes))),
        fixed_edges=torch.as_tensor(np.asarray(fixed, dtype=np.int64)),
    )


class ArchGenerator:
    def __init__(self, space: SearchSpace, denoiser: GraphDenoiser, transitions: MarginalTransitions,
                 scales: dict[str, ConditionScale]):
        self.space = space
        self.denoiser = denoiser
        self.transitions = transitions
        self.scales = scales

    @classmethod
    def create(cls, space: SearchSpace, training: TrainingSet, config: DenoiserConfig = DenoiserConfig(),
               seed: int = 0) -> ArchGenerator:
        """An untrained generator whose marginals and condition scales come from ``training``."""
        torch.manual_seed(seed)
        layout = graph_layout(space.graph_spec)
        graphs = GraphBatch.from_numpy(*space.encode(training.archs))
        transitions = MarginalTransitions.from_data(layout, CosineSchedule(TIMESTEPS), graphs)
        labelled = training.labelled
        timed = ~np.isnan(training.latency_ms)
        scales = {  # a condition nobody has a value for keeps a placeholder scale; it is never present
            "accuracy": ConditionScale.fit("accuracy", training.accuracy[labelled] if labelled.any()
                                           else np.array([0.5]), log=False, method="quantile"),
            "latency": ConditionScale.fit("latency", training.latency_ms[timed] if timed.any()
                                          else np.array([1.0]), log=True, method="quantile"),
        }
        return cls(space, GraphDenoiser(layout, config), transitions, scales)

    def conditions(self, accuracy: np.ndarray, latency_ms: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised values and present-flags ``[B, 2]``; NaN marks an absent condition."""
        raw = {"accuracy": np.asarray(accuracy, dtype=float), "latency": np.asarray(latency_ms, dtype=float)}
        values, present = [], []
        for name in CONDITIONS:
            x = raw[name]
            ok = ~np.isnan(x)
            values.append(np.where(ok, self.scales[name].normalize(np.where(ok, x, 1.0)), 0.0))
            present.append(ok)
        return (torch.as_tensor(np.stack(values, 1), dtype=torch.float32),
                torch.as_tensor(np.stack(present, 1)))

    def fit(self, training: TrainingSet, cfg: TrainConfig, seed: int, state: TrainState | None = None,
            on_step: Callable[[TrainState], None] | None = None,
            checkpoint: Callable[[TrainState], None] | None = None,
            labelled_share: float | None = None) -> TrainState:
        """Train on ``training``; ``labelled_share`` draws that share of each batch from labelled archs."""
        values, present = self.conditions(training.accuracy, training.latency_ms)
        weights = None
        labelled = training.labelled
        if labelled_share is not None and 0 < labelled.sum() < len(labelled):
            w = np.where(labelled, labelled_share / labelled.sum(), (1 - labelled_share) / (~labelled).sum())
            weights = torch.as_tensor(w, dtype=torch.float64)
        data = ConditionedGraphs(GraphBatch.from_numpy(*self.space.encode(training.archs)), values, present,
                                 direction=torch.tensor([-1.0, 1.0]),  # accuracy at least, latency at most
                                 weights=weights)
        return train_denoiser(self.denoiser, self.transitions, data, cfg, seed, state, on_step, checkpoint)

    def sample(self, accuracy: np.ndarray, latency_ms: np.ndarray, guidance: Guidance = Guidance(),
               steps: int = DEFAULT_SAMPLING_STEPS, seed: int = 0, batch_size: int = 1000) -> list[str | None]:
        """One architecture per target pair (NaN = condition absent); ``None`` for invalid graphs."""
        values, present = self.conditions(accuracy, latency_ms)
        generator = torch.Generator().manual_seed(seed)
        graphs = GuidedSampler(self.transitions, steps).sample(
            self.denoiser, values, present, guidance, generator, batch_size)
        return self.space.decode(*graphs.numpy())

    # -- persistence (plain tensors and JSON: loadable with weights_only=True) --------------------
    def tensors(self) -> dict[str, object]:
        return {
            "denoiser": self.denoiser.state_dict(),
            "node_marginals": [m.clone() for m in self.transitions.node_marginals],
            "edge_marginals": self.transitions.edge_marginals.clone(),
        }

    def meta(self) -> dict:
        return {"denoiser": self.denoiser.cfg.to_json(), "timesteps": self.transitions.schedule.timesteps,
                "scales": {k: v.to_json() for k, v in self.scales.items()}}

    @classmethod
    def from_saved(cls, space: SearchSpace, tensors: dict, meta: dict) -> ArchGenerator:
        layout = graph_layout(space.graph_spec)
        transitions = MarginalTransitions(layout, CosineSchedule(meta["timesteps"]),
                                          list(tensors["node_marginals"]), tensors["edge_marginals"])
        denoiser = GraphDenoiser(layout, DenoiserConfig(**meta["denoiser"]))
        denoiser.load_state_dict(tensors["denoiser"])
        scales = {k: ConditionScale(**{**v, "knots": tuple(v.get("knots", ()))}) for k, v in meta["scales"].items()}
        return cls(space, denoiser, transitions, scales)
