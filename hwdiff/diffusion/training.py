"""Training a denoiser: noise a clean graph at a random step, predict it back (cross-entropy).

Each condition is dropped independently (and all of them together, now and then), so one model
learns every subset of conditions, including none. A condition a graph has no label for is always
absent, so unlabelled graphs train only the paths that do not need it.

A condition may be a *bound* rather than a value: with ``direction`` +1 the model is shown
``value + |e| * jitter`` (an upper bound the graph meets: "latency at most"), with -1
``value - |e| * jitter`` (a lower bound: "accuracy at least"), fresh noise every step. The model
then learns p(G | bound), which puts no mass on graphs that break the bound and most of it on graphs
close to it -- what a search under a budget wants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hwdiff.diffusion.config import TrainConfig
from hwdiff.diffusion.denoiser import GraphDenoiser
from hwdiff.diffusion.graphs import GraphBatch
from hwdiff.diffusion.noise import MarginalTransitions
from hwdiff.diffusion.pipeline import condition_tensor


@dataclass
class TrainState:
    """Everything needed to continue training exactly where it stopped."""

    step: int = 0
    losses: list[float] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    generator: torch.Tensor | None = None


@dataclass
class ConditionedGraphs:
    """Training data: rows of normalised condition values (``[M, D]``) and present-flags (``[M, C]``),
    each row for one graph.

    ``graph_index`` (``[M]``): the graph of each row, when graphs have several rows (the same graph
    under several settings of a condition); default: row ``i`` is graph ``i``.
    ``direction`` (``[D]``): 0 = condition on the value, +1 = on an upper bound, -1 = on a lower bound.
    ``weights`` (``[M]``): how often each row is drawn (default uniform), e.g. to show the few
    labelled graphs of a budgeted search as often as the many unlabelled ones.
    """

    graphs: GraphBatch
    values: torch.Tensor
    present: torch.Tensor
    direction: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    graph_index: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.values)

    def rows(self, idx: torch.Tensor) -> GraphBatch:
        return self.graphs[idx if self.graph_index is None else self.graph_index[idx]]


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def denoising_loss(model: GraphDenoiser, transitions: MarginalTransitions, clean: GraphBatch,
                   cond: torch.Tensor, generator: torch.Generator, edge_loss_weight: float) -> torch.Tensor:
    lay = transitions.layout
    total = transitions.schedule.timesteps
    t = torch.randint(1, total + 1, (len(clean),), generator=generator)
    noisy = transitions.noise(clean, t, generator)
    node_logits, edge_logits = model(noisy, t.float() / total, cond)
    loss = torch.zeros(())
    free = lay.node_mask
    for a, logits in enumerate(node_logits):
        logits = logits[:, free].masked_fill(~lay.allowed[a][free], float("-inf"))
        loss = loss + nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                  clean.nodes[:, free, a].reshape(-1))
    if lay.has_free_edges:
        em = lay.edge_mask
        loss = loss + edge_loss_weight * nn.functional.cross_entropy(edge_logits[:, em], clean.edges[:, em])
    return loss


def train_denoiser(model: GraphDenoiser, transitions: MarginalTransitions, data: ConditionedGraphs,
                   cfg: TrainConfig, seed: int, state: TrainState | None = None,
                   on_step: Callable[[TrainState], None] | None = None,
                   checkpoint: Callable[[TrainState], None] | None = None, checkpoint_every: int = 250) -> TrainState:
    """Train ``model`` in place for ``cfg.steps`` steps; ``state`` resumes an interrupted run exactly."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    state = state or TrainState()
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        generator.set_state(state.generator)
    model.train()
    while state.step < cfg.steps:
        if data.weights is None:
            idx = torch.randint(0, len(data), (cfg.batch_size,), generator=generator)
        else:
            idx = torch.multinomial(data.weights, cfg.batch_size, replacement=True, generator=generator)
        present = data.present[idx].clone()
        present &= torch.rand(present.shape, generator=generator) >= cfg.drop_each
        present &= (torch.rand(len(idx), 1, generator=generator) >= cfg.drop_all)
        values = data.values[idx]
        if data.direction is not None:
            noise = torch.randn(values.shape, generator=generator).abs() * cfg.bound_jitter
            values = values + data.direction * noise
        cond = condition_tensor(values, present, model.cfg.condition_widths)
        loss = denoising_loss(model, transitions, data.rows(idx), cond, generator, cfg.edge_loss_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        state.step += 1
        state.losses.append(loss.item())
        if on_step:
            on_step(state)
        if checkpoint and (state.step % checkpoint_every == 0 or state.step == cfg.steps):
            state.optimizer = optimizer.state_dict()
            state.scheduler = scheduler.state_dict()
            state.generator = generator.get_state()
            checkpoint(state)
    state.optimizer = optimizer.state_dict()
    state.scheduler = scheduler.state_dict()
    state.generator = generator.get_state()
    return state
