"""The forward process: cosine schedule and marginal transition matrices (DiGress).

Each categorical channel (every node attribute, the edge type) has the transition
``Qbar_t = abar_t I + (1 - abar_t) 1 m^T`` towards its stationary distribution ``m``: the training
data's marginals, per position, restricted to the categories the space allows there. Matrices of
this form compose exactly, ``Qbar_t = Qbar_s Q_{s->t}`` with ``Q_{s->t}`` of ratio
``abar_t / abar_s``, so sampling may jump from any step to any earlier one (step skipping).
Positions a space fixes are never noised.
"""

from __future__ import annotations

import math

import torch

from hwdiff.diffusion.graphs import GraphBatch, GraphLayout

MARGINAL_SMOOTHING = 1.0  # pseudo-count per allowed category, so every allowed category stays reachable


def sample_categorical(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One category per row of ``probs`` ``[..., K]``."""
    flat = probs.reshape(-1, probs.shape[-1]).float()
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


class CosineSchedule:
    """``abar_t = f(t) / f(0)`` with ``f(t) = cos^2(((t/T + s) / (1 + s)) pi/2)`` (Nichol & Dhariwal)."""

    def __init__(self, timesteps: int = 500, s: float = 0.008):
        self.timesteps = timesteps
        t = torch.arange(timesteps + 1, dtype=torch.float64)
        f = torch.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2
        abar = (f / f[0]).clamp(min=0.0)
        # One-step alphas are clipped (as DiGress does) so that every step removes a little signal.
        alphas = (abar[1:] / abar[:-1]).clamp(min=1e-4, max=0.9999)
        self._abar = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(alphas, 0)])
        self._abar[-1] = 0.0  # the limit is reached exactly at t = T

    def abar(self, t: torch.Tensor | int) -> torch.Tensor:
        """Signal kept after ``t`` steps (float64), ``abar(0) = 1``, ``abar(T) = 0``."""
        return self._abar[torch.as_tensor(t, dtype=torch.long)]


class MarginalTransitions:
    """Noise, matrices and posteriors for every channel of a graph layout."""

    def __init__(self, layout: GraphLayout, schedule: CosineSchedule, node_marginals: list[torch.Tensor],
                 edge_marginals: torch.Tensor):
        self.layout = layout
        self.schedule = schedule
        self.node_marginals = [m.double() for m in node_marginals]  # [N, K_a] each
        self.edge_marginals = edge_marginals.double()  # [N, N, K_e]

    @classmethod
    def from_data(cls, layout: GraphLayout, schedule: CosineSchedule, graphs: GraphBatch) -> MarginalTransitions:
        """Stationary distributions = per-position category frequencies of ``graphs`` (smoothed)."""
        node_marginals = []
        for a, k in enumerate(layout.node_classes):
            counts = torch.nn.functional.one_hot(graphs.nodes[..., a], k).double().sum(0)
            counts = (counts + MARGINAL_SMOOTHING) * layout.allowed[a].double()
            node_marginals.append(counts / counts.sum(-1, keepdim=True))
        counts = torch.nn.functional.one_hot(graphs.edges, layout.edge_classes).double().sum(0) + MARGINAL_SMOOTHING
        return cls(layout, schedule, node_marginals, counts / counts.sum(-1, keepdim=True))

    # -- matrices (for inspection and tests; the hot paths use their closed form) ----------------
    @staticmethod
    def _matrix(keep: torch.Tensor, marginal: torch.Tensor) -> torch.Tensor:
        k = marginal.shape[-1]
        return keep * torch.eye(k, dtype=torch.float64) + (1 - keep) * marginal.unsqueeze(-2).expand(
            *marginal.shape[:-1], k, k)

    def qbar(self, marginal: torch.Tensor, t: int) -> torch.Tensor:
        """``Qbar_t`` for a marginal ``[..., K]``: rows are p(x_t | x_0)."""
        return self._matrix(self.schedule.abar(t), marginal)

    def q_between(self, marginal: torch.Tensor, s: int, t: int) -> torch.Tensor:
        """``Q_{s->t}`` (s < t): rows are p(x_t | x_s)."""
        abar_s, abar_t = self.schedule.abar(s), self.schedule.abar(t)
        ratio = abar_t / abar_s if abar_s > 0 else torch.zeros((), dtype=torch.float64)
        return self._matrix(ratio, marginal)

    # -- forward noise --------------------------------------------------------------------------
    def noise(self, graphs: GraphBatch, t: torch.Tensor, generator: torch.Generator | None = None) -> GraphBatch:
        """Sample ``G_t ~ q(G_t | G_0)`` for per-graph steps ``t`` (long ``[B]``)."""
        keep = self.schedule.abar(t.cpu()).to(graphs.nodes.device)  # [B]
        nodes = graphs.nodes.clone()
        for a, k in enumerate(self.layout.node_classes):
            onehot = torch.nn.functional.one_hot(graphs.nodes[..., a], k).double()
            probs = keep[:, None, None] * onehot + (1 - keep[:, None, None]) * self.node_marginals[a].to(onehot.device)
            sampled = sample_categorical(probs, generator)
            nodes[..., a] = torch.where(self.layout.node_mask.to(nodes.device), sampled, graphs.nodes[..., a])
        edges = graphs.edges
        if self.layout.has_free_edges:
            onehot = torch.nn.functional.one_hot(graphs.edges, self.layout.edge_classes).double()
            marg = self.edge_marginals.to(onehot.device)
            probs = keep[:, None, None, None] * onehot + (1 - keep[:, None, None, None]) * marg
            sampled = sample_categorical(probs, generator)
            edges = torch.where(self.layout.edge_mask.to(edges.device), sampled, graphs.edges)
        return GraphBatch(nodes, edges)

    def sample_limit(self, batch: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> GraphBatch:
        """Draw ``G_T`` from the stationary distributions (fixed positions take their fixed values)."""
        n = self.layout.num_nodes
        nodes = torch.zeros(batch, n, len(self.layout.node_classes), dtype=torch.long, device=device)
        for a, marginal in enumerate(self.node_marginals):
            sampled = sample_categorical(marginal.to(device).expand(batch, n, -1), generator)
            nodes[..., a] = torch.where(self.layout.node_mask.to(device), sampled, 0)
        edges = self.layout.fixed_edges.to(device).expand(batch, n, n).clone()
        if self.layout.has_free_edges:
            sampled = sample_categorical(self.edge_marginals.to(device).expand(batch, n, n, -1), generator)
            edges = torch.where(self.layout.edge_mask.to(device), sampled, edges)
        return GraphBatch(nodes, edges)

    # -- reverse step ---------------------------------------------------------------------------
    def posterior(self, x0_probs: torch.Tensor, x_t: torch.Tensor, marginal: torch.Tensor, s: int, t: int
                  ) -> torch.Tensor:
        """``p(x_s | x_t) = sum_k p(x_0 = k | x_t) q(x_s | x_t, x_0 = k)`` for one channel.

        ``x0_probs`` ``[B, *P, K]``, ``x_t`` long ``[B, *P]``, ``marginal`` ``[*P, K]``.
        """
        abar_s, abar_t = self.schedule.abar(s), self.schedule.abar(t)
        ratio = abar_t / abar_s if abar_s > 0 else torch.zeros((), dtype=torch.float64)
        m = marginal.to(x0_probs.device)
        k = m.shape[-1]
        xt_onehot = torch.nn.functional.one_hot(x_t, k).double()
        m_at_xt = (m * xt_onehot).sum(-1, keepdim=True)  # m_{x_t}
        # Q_{s->t}[j, x_t] as a vector over j, and Qbar_t[k, x_t] as a vector over k.
        to_xt = ratio * xt_onehot + (1 - ratio) * m_at_xt
        reach_xt = abar_t * xt_onehot + (1 - abar_t) * m_at_xt
        weights = x0_probs.double() / reach_xt.clamp(min=1e-30)
        # sum_k weights_k Qbar_s[k, j] = abar_s weights_j + (1 - abar_s) m_j sum_k weights_k
        through_s = abar_s * weights + (1 - abar_s) * m * weights.sum(-1, keepdim=True)
        probs = through_s * to_xt
        return probs / probs.sum(-1, keepdim=True).clamp(min=1e-30)
