"""A trained conditional generator: denoiser + transitions + condition scales for one space.

Two kinds: a *device* generator, trained on one device's latencies (conditions: accuracy, latency),
and a *shared* one, trained across devices (conditions: accuracy, latency on the device's own scale,
the device vector; see ``device_condition.py``), which ``for_device`` binds to one device.
The only place a space's graph encoding meets the diffusion core (``graph_layout``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from hwdiff.diffusion.config import DEFAULT_SAMPLING_STEPS, TIMESTEPS
from hwdiff.diffusion.denoiser import DenoiserConfig, GraphDenoiser
from hwdiff.diffusion.graphs import GraphBatch, GraphLayout
from hwdiff.diffusion.noise import CosineSchedule, MarginalTransitions
from hwdiff.diffusion.pipeline import Guidance, GuidedSampler
from hwdiff.diffusion.training import ConditionedGraphs, TrainConfig, TrainState, train_denoiser
from hwdiff.generator.device_condition import DeviceCondition, DeviceEncoder
from hwdiff.generator.scale import CONDITIONS, ConditionScale
from hwdiff.generator.training_set import DeviceRows, TrainingSet
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


def _marginal_transitions(space: SearchSpace, archs: list[str], seed: int
                          ) -> tuple[GraphLayout, MarginalTransitions]:
    """Seed torch for the denoiser's initialisation, and the transitions towards the marginals of ``archs``."""
    torch.manual_seed(seed)
    layout = graph_layout(space.graph_spec)
    graphs = GraphBatch.from_numpy(*space.encode(archs))
    return layout, MarginalTransitions.from_data(layout, CosineSchedule(TIMESTEPS), graphs)


BOUND_DIRECTION = (-1.0, 1.0)  # accuracy at least, latency at most


class ArchGenerator:
    def __init__(self, space: SearchSpace, denoiser: GraphDenoiser, transitions: MarginalTransitions,
                 scales: dict[str, ConditionScale], device_encoder: DeviceEncoder | None = None,
                 device: DeviceCondition | None = None):
        self.space = space
        self.denoiser = denoiser
        self.transitions = transitions
        self.scales = scales
        self.device_encoder = device_encoder  # set: a shared generator
        self.device = device  # the device a shared generator is bound to (``for_device``)

    @property
    def shared(self) -> bool:
        return self.device_encoder is not None

    @classmethod
    def create(cls, space: SearchSpace, training: TrainingSet, config: DenoiserConfig = DenoiserConfig(),
               seed: int = 0) -> ArchGenerator:
        """An untrained generator whose marginals and condition scales come from ``training``."""
        layout, transitions = _marginal_transitions(space, training.archs, seed)
        labelled = training.labelled
        timed = ~np.isnan(training.latency_ms)
        scales = {  # a condition nobody has a value for keeps a placeholder scale; it is never present
            "accuracy": ConditionScale.fit("accuracy", training.accuracy[labelled] if labelled.any()
                                           else np.array([0.5]), log=False, method="quantile"),
            "latency": ConditionScale.fit("latency", training.latency_ms[timed] if timed.any()
                                          else np.array([1.0]), log=True, method="quantile"),
        }
        return cls(space, GraphDenoiser(layout, config), transitions, scales)

    @classmethod
    def create_shared(cls, space: SearchSpace, archs: list[str], accuracy: np.ndarray, encoder: DeviceEncoder,
                      config: DenoiserConfig = DenoiserConfig(), seed: int = 0) -> ArchGenerator:
        """An untrained shared generator: marginals of ``archs``, the accuracy scale of ``accuracy``."""
        layout, transitions = _marginal_transitions(space, archs, seed)
        scales = {"accuracy": ConditionScale.fit("accuracy", accuracy[~np.isnan(accuracy)], log=False,
                                                 method="quantile")}
        config = replace(config, num_conditions=3, condition_dims=(1, 1, encoder.dim))
        return cls(space, GraphDenoiser(layout, config), transitions, scales, encoder)

    def for_device(self, device: DeviceCondition) -> ArchGenerator:
        """This shared generator bound to ``device``: latency bounds are read on the device's scale."""
        if not self.shared:
            raise ValueError("only a shared generator takes a device")
        return ArchGenerator(self.space, self.denoiser, self.transitions, {**self.scales, "latency": device.latency},
                             self.device_encoder, device)

    def conditions(self, accuracy: np.ndarray, latency_ms: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised values ``[B, D]`` and present-flags ``[B, C]``; NaN marks an absent condition.

        A shared generator adds its device's vector (absent when it is bound to none)."""
        raw = {"accuracy": np.asarray(accuracy, dtype=float), "latency": np.asarray(latency_ms, dtype=float)}
        if self.shared and self.device is None and not np.isnan(raw["latency"]).all():
            raise ValueError("a shared generator reads a latency bound only on a device's scale (for_device)")
        values, present = [], []
        for name in CONDITIONS:
            x = raw[name]
            ok = ~np.isnan(x)
            values.append(np.where(ok, self.scales[name].normalize(np.where(ok, x, 1.0)), 0.0) if ok.any()
                          else np.zeros(len(x)))
            present.append(ok)
        values, present = np.stack(values, 1), np.stack(present, 1)
        if self.shared:
            vector = np.zeros(self.device_encoder.dim) if self.device is None else self.device.vector
            values = np.concatenate([values, np.tile(vector, (len(values), 1))], axis=1)
            present = np.concatenate([present, np.full((len(present), 1), self.device is not None)], axis=1)
        return torch.as_tensor(values, dtype=torch.float32), torch.as_tensor(present)

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
                                 direction=torch.tensor(BOUND_DIRECTION), weights=weights)
        return train_denoiser(self.denoiser, self.transitions, data, cfg, seed, state, on_step, checkpoint)

    def fit_devices(self, rows: DeviceRows, cfg: TrainConfig, seed: int, state: TrainState | None = None,
                    on_step: Callable[[TrainState], None] | None = None,
                    checkpoint: Callable[[TrainState], None] | None = None) -> TrainState:
        """Train a shared generator on (architecture, device) rows; the device vector is a value, not a bound."""
        accuracy = rows.accuracy[rows.arch_index]
        labelled = ~np.isnan(accuracy)
        values = np.concatenate([
            np.where(labelled, self.scales["accuracy"].normalize(np.where(labelled, accuracy, 0.5)), 0.0)[:, None],
            rows.latency[:, None], rows.vector], axis=1)
        present = np.stack([labelled, np.ones(len(labelled), bool), np.ones(len(labelled), bool)], axis=1)
        direction = torch.tensor(BOUND_DIRECTION + (0.0,) * rows.vector.shape[1])
        data = ConditionedGraphs(GraphBatch.from_numpy(*self.space.encode(rows.archs)),
                                 torch.as_tensor(values, dtype=torch.float32), torch.as_tensor(present),
                                 direction=direction, graph_index=torch.as_tensor(rows.arch_index))
        return train_denoiser(self.denoiser, self.transitions, data, cfg, seed, state, on_step, checkpoint)

    def sample(self, accuracy: np.ndarray, latency_ms: np.ndarray, guidance: Guidance = Guidance(),
               steps: int = DEFAULT_SAMPLING_STEPS, seed: int = 0, batch_size: int = 1000) -> list[str | None]:
        """One architecture per target pair (NaN = condition absent); ``None`` for invalid graphs."""
        values, present = self.conditions(accuracy, latency_ms)
        generator = torch.Generator().manual_seed(seed)
        context = (len(CONDITIONS),) if self.shared else ()  # the device: given to every pass, never guided
        graphs = GuidedSampler(self.transitions, steps).sample(
            self.denoiser, values, present, guidance, generator, batch_size, context)
        return self.space.decode(*graphs.numpy())

    # -- persistence (plain tensors and JSON: loadable with weights_only=True) --------------------
    def tensors(self) -> dict[str, object]:
        return {
            "denoiser": self.denoiser.state_dict(),
            "node_marginals": [m.clone() for m in self.transitions.node_marginals],
            "edge_marginals": self.transitions.edge_marginals.clone(),
        }

    def meta(self) -> dict:
        doc = {"denoiser": self.denoiser.cfg.to_json(), "timesteps": self.transitions.schedule.timesteps,
               "scales": {k: v.to_json() for k, v in self.scales.items()}}
        if self.shared:
            doc["scales"].pop("latency", None)  # a bound device's, not the generator's
            doc["device_encoder"] = self.device_encoder.to_json()
        return doc

    @classmethod
    def from_saved(cls, space: SearchSpace, tensors: dict, meta: dict) -> ArchGenerator:
        layout = graph_layout(space.graph_spec)
        transitions = MarginalTransitions(layout, CosineSchedule(meta["timesteps"]),
                                          list(tensors["node_marginals"]), tensors["edge_marginals"])
        denoiser = GraphDenoiser(layout, DenoiserConfig.from_json(meta["denoiser"]))
        denoiser.load_state_dict(tensors["denoiser"])
        scales = {k: ConditionScale(**{**v, "knots": tuple(v.get("knots", ()))}) for k, v in meta["scales"].items()}
        encoder = DeviceEncoder.from_json(meta["device_encoder"]) if "device_encoder" in meta else None
        return cls(space, denoiser, transitions, scales, encoder)
