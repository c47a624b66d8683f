"""Ancestral sampling with classifier-free guidance over several conditions.

The sampler takes a denoiser; it does not own one. Guidance acts on the denoiser's logits:

* joint:    ``l = (1 + w) l(G, c) - w l(G, none)``
* composed: ``l = l(G, none) + sum_k w_k (l(G, c_k) - l(G, none))``, one weight per condition,
  where ``c_k`` keeps only condition ``k``.

*Context* conditions (``context``: their indices) describe the setting rather than bound the result
(a shared generator's device): every pass is given them and none is guided on them, so ``none`` above
reads "only the context", and a step with no other condition present is one unguided pass.

All the passes a step needs run as one batched forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hwdiff.diffusion.denoiser import GraphDenoiser
from hwdiff.diffusion.graphs import GraphBatch
from hwdiff.diffusion.noise import MarginalTransitions, sample_categorical


@dataclass(frozen=True)
class Guidance:
    """``mode`` "joint" (``weights[0]`` is w) or "composed" (one weight per condition)."""

    mode: str = "joint"
    weights: tuple[float, ...] = (2.0,)

    def __post_init__(self) -> None:
        if self.mode not in ("joint", "composed"):
            raise ValueError(f"guidance mode {self.mode!r}; accepted: joint, composed")
        if not self.weights:
            raise ValueError("guidance needs at least one weight")
        if not all(math.isfinite(w) for w in self.weights):
            raise ValueError(f"guidance weights must be finite numbers, got {', '.join(map(str, self.weights))}")


def condition_tensor(values: torch.Tensor, present: torch.Tensor, widths: tuple[int, ...] = ()) -> torch.Tensor:
    """(values ``[B, D]``, present ``[B, C]`` bool) -> the denoiser's ``[B, D + C]`` input: per condition
    its value(s) zeroed when absent, then its present-flag. ``widths``: the numbers in each condition's
    value (sum D); empty means one number each."""
    widths = widths or (1,) * present.shape[1]
    present = present.float()
    parts, start = [], 0
    for k, width in enumerate(widths):
        flag = present[:, k:k + 1]
        parts += [values[:, start:start + width].float() * flag, flag]
        start += width
    return torch.cat(parts, dim=1)


class GuidedSampler:
    def __init__(self, transitions: MarginalTransitions, steps: int | None = None):
        self.transitions = transitions
        total = transitions.schedule.timesteps
        self.steps = min(steps or total, total)

    def timesteps(self) -> list[tuple[int, int]]:
        """(t, s) pairs from T down to 0 in ``steps`` jumps (exact for marginal transitions)."""
        total = self.transitions.schedule.timesteps
        grid = sorted({round(total * i / self.steps) for i in range(self.steps + 1)}, reverse=True)
        return list(zip(grid[:-1], grid[1:]))

    def _guided_logits(self, model: GraphDenoiser, graphs: GraphBatch, t: torch.Tensor, values: torch.Tensor,
                       present: torch.Tensor, guidance: Guidance, context: tuple[int, ...] = ()
                       ) -> tuple[list[torch.Tensor], torch.Tensor]:
        b, c = present.shape
        guided = [k for k in range(c) if k not in context]
        none = present.clone()  # the context conditions only
        none[:, guided] = False
        if not present[:, guided].any():
            variants, coefs = [present], [1.0]
        elif guidance.mode == "joint":
            w = guidance.weights[0]
            variants, coefs = [present, none], [1.0 + w, -w]
        else:
            if len(guidance.weights) != len(guided):
                raise ValueError(f"composed guidance needs {len(guided)} weights, got {len(guidance.weights)}")
            variants, coefs = [none], [1.0]
            for k, weight in zip(guided, guidance.weights):
                only_k = none.clone()
                only_k[:, k] = present[:, k]
                if present[:, k].any():
                    variants.append(only_k)
                    coefs.append(weight)
                    coefs[0] -= weight
        reps = len(variants)
        widths = model.cfg.condition_widths
        cond = torch.cat([condition_tensor(values, v, widths) for v in variants])
        big = GraphBatch(graphs.nodes.repeat(reps, 1, 1), graphs.edges.repeat(reps, 1, 1))
        node_logits, edge_logits = model(big, t.repeat(reps), cond)

        def mix(logits: torch.Tensor) -> torch.Tensor:
            parts = logits.split(b)
            return sum(coef * part for coef, part in zip(coefs, parts))

        return [mix(lg) for lg in node_logits], mix(edge_logits)

    @torch.no_grad()
    def sample(self, model: GraphDenoiser, values: torch.Tensor, present: torch.Tensor,
               guidance: Guidance = Guidance(), generator: torch.Generator | None = None,
               batch_size: int = 1000, context: tuple[int, ...] = ()) -> GraphBatch:
        """One graph per row of ``values`` (``[B, D]``, normalised) and ``present`` (``[B, C]``); ``context``: the
        indices of the context conditions."""
        model.eval()
        device = next(model.parameters()).device
        out = []
        for start in range(0, values.shape[0], batch_size):
            v = values[start:start + batch_size].to(device)
            p = present[start:start + batch_size].to(device)
            out.append(self._sample_batch(model, v, p, guidance, generator, device, context))
        return GraphBatch(torch.cat([g.nodes for g in out]), torch.cat([g.edges for g in out]))

    def _sample_batch(self, model: GraphDenoiser, values: torch.Tensor, present: torch.Tensor,
                      guidance: Guidance, generator: torch.Generator | None, device: torch.device,
                      context: tuple[int, ...]) -> GraphBatch:
        tr = self.transitions
        lay = tr.layout
        total = tr.schedule.timesteps
        graphs = tr.sample_limit(values.shape[0], generator, device)
        node_mask = lay.node_mask.to(device)
        edge_mask = lay.edge_mask.to(device)
        for t, s in self.timesteps():
            t_in = torch.full((values.shape[0],), t / total, device=device)
            node_logits, edge_logits = self._guided_logits(model, graphs, t_in, values, present, guidance, context)
            nodes = graphs.nodes.clone()
            for a, logits in enumerate(node_logits):
                logits = logits.masked_fill(~lay.allowed[a].to(device), float("-inf"))
                probs = tr.posterior(logits.softmax(-1), graphs.nodes[..., a], tr.node_marginals[a], s, t)
                nodes[..., a] = torch.where(node_mask, sample_categorical(probs, generator), graphs.nodes[..., a])
            edges = graphs.edges
            if lay.has_free_edges:
                probs = tr.posterior(edge_logits.softmax(-1), graphs.edges, tr.edge_marginals, s, t)
                edges = torch.where(edge_mask, sample_categorical(probs, generator), graphs.edges)
            graphs = GraphBatch(nodes, edges)
        return graphs
