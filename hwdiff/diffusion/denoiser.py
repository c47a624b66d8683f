"""Graph-transformer denoiser: predicts the clean graph's categories from a noisy graph.

Inputs are the noisy graph (one-hot per node attribute; for each ordered pair the edge type in both
directions, so the direction of every edge is kept), the timestep ``t`` (sinusoidal embedding), and
the condition vector (one value and one present-flag per condition). Timestep and condition form a
global feature that modulates (FiLM) every node and edge channel in every layer. Attention between
nodes is biased and gated by the edge features, and edges are updated from the attention scores
(the DiGress graph-transformer layer, written for directed graphs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from hwdiff.diffusion.graphs import GraphBatch, GraphLayout


@dataclass(frozen=True)
class DenoiserConfig:
    """Defaults are sized for a 2-core CPU; the paper's model is node 256, edge 64, 8 heads, 5 layers."""

    node_dim: int = 64
    edge_dim: int = 16
    global_dim: int = 64
    heads: int = 4
    layers: int = 3
    num_conditions: int = 2
    dropout: float = 0.0
    condition_dims: tuple[int, ...] = ()  # numbers in each condition's value; () = one number each

    @property
    def condition_widths(self) -> tuple[int, ...]:
        return self.condition_dims or (1,) * self.num_conditions

    def to_json(self) -> dict:
        doc = asdict(self)
        if not self.condition_dims:  # scalar conditions only: the JSON (and stored models' keys) of before
            del doc["condition_dims"]
        else:
            doc["condition_dims"] = list(self.condition_dims)
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> DenoiserConfig:
        return cls(**{**doc, "condition_dims": tuple(doc.get("condition_dims", ()))})


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of ``t`` in [0, 1] (``t / T``)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * 1000.0 * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FiLM(nn.Module):
    """Scale and shift a channel by the global feature."""

    def __init__(self, global_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(global_dim, 2 * dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        scale, shift = self.proj(g).chunk(2, dim=-1)
        shape = (g.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return x * (1 + scale.view(shape)) + shift.view(shape)


class GraphTransformerLayer(nn.Module):
    """Edge-biased attention over nodes; edges updated from the scores when they are generated.

    When a space fixes the adjacency (``update_edges=False``) the edge features only bias attention:
    there is nothing to predict for them, and skipping their update halves the cost on a CPU.
    """

    def __init__(self, cfg: DenoiserConfig, update_edges: bool):
        super().__init__()
        d, de, h = cfg.node_dim, cfg.edge_dim, cfg.heads
        self.heads, self.head_dim = h, d // h
        self.qkv = nn.Linear(d, 3 * d)
        self.edge_to_attn = nn.Linear(de, 2 * h)  # multiplicative and additive bias per head
        self.node_out = nn.Linear(d, d)
        self.node_film = FiLM(cfg.global_dim, d)
        self.norm_x1, self.norm_x2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff_x = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.update_edges = update_edges
        if update_edges:
            self.attn_to_edge = nn.Linear(h, de)
            self.edge_out = nn.Linear(de, de)
            self.edge_film = FiLM(cfg.global_dim, de)
            self.norm_e1, self.norm_e2 = nn.LayerNorm(de), nn.LayerNorm(de)
            self.ff_e = nn.Sequential(nn.Linear(de, 2 * de), nn.GELU(), nn.Linear(2 * de, de))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, e: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).unbind(2)
        scores = torch.einsum("bihd,bjhd->bijh", q, k) / math.sqrt(self.head_dim)  # [B, N, N, H]
        mul, add = self.edge_to_attn(e).chunk(2, dim=-1)
        scores = scores * (1 + mul) + add
        attn = scores.softmax(dim=2)
        new_x = torch.einsum("bijh,bjhd->bihd", attn, v).reshape(b, n, d)
        new_x = self.node_film(self.node_out(new_x), g)
        x = self.norm_x1(x + self.dropout(new_x))
        x = self.norm_x2(x + self.dropout(self.ff_x(x)))
        if self.update_edges:
            new_e = self.edge_film(self.edge_out(self.attn_to_edge(scores)), g)
            e = self.norm_e1(e + self.dropout(new_e))
            e = self.norm_e2(e + self.dropout(self.ff_e(e)))
        return x, e


class GraphDenoiser(nn.Module):
    """``f(G_t, t, c) -> (node logits per attribute, edge logits)``."""

    def __init__(self, layout: GraphLayout, cfg: DenoiserConfig):
        super().__init__()
        self.layout, self.cfg = layout, cfg
        d, de, dg = cfg.node_dim, cfg.edge_dim, cfg.global_dim
        n = layout.num_nodes
        self.node_in = nn.Linear(sum(layout.node_classes) + 1, d)  # + "generated" flag
        self.position = nn.Parameter(torch.randn(n, d) * 0.02)
        self.edge_in = nn.Linear(2 * layout.edge_classes + 1, de)  # i->j, j->i, "generated" flag
        if len(cfg.condition_widths) != cfg.num_conditions:
            raise ValueError(f"condition_dims {cfg.condition_dims} does not give {cfg.num_conditions} conditions")
        cond_in = sum(cfg.condition_widths) + cfg.num_conditions  # values, then one present-flag per condition
        self.global_in = nn.Sequential(nn.Linear(dg + cond_in, dg), nn.GELU(), nn.Linear(dg, dg))
        self.layers = nn.ModuleList(GraphTransformerLayer(cfg, layout.has_free_edges) for _ in range(cfg.layers))
        self.node_heads = nn.ModuleList(nn.Linear(d, k) for k in layout.node_classes)
        self.edge_head = nn.Linear(de, layout.edge_classes)

    def forward(self, graphs: GraphBatch, t: torch.Tensor, conditions: torch.Tensor
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``t`` in [0, 1] (``[B]``); ``conditions`` = ``condition_tensor(values, present, widths)``."""
        lay = self.layout
        b, n = graphs.nodes.shape[:2]
        node_mask = lay.node_mask.to(graphs.nodes.device)
        feats = [nn.functional.one_hot(graphs.nodes[..., a], k).float() for a, k in enumerate(lay.node_classes)]
        feats.append(node_mask.float().expand(b, n).unsqueeze(-1))
        x = self.node_in(torch.cat(feats, dim=-1)) + self.position
        # A fixed adjacency is the same in every graph: its features are computed once and broadcast.
        edges = graphs.edges if lay.has_free_edges else lay.fixed_edges.to(graphs.edges.device)[None]
        onehot = nn.functional.one_hot(edges, lay.edge_classes).float()
        edge_mask = lay.edge_mask.to(edges.device).float().expand(edges.shape).unsqueeze(-1)
        e = self.edge_in(torch.cat([onehot, onehot.transpose(1, 2), edge_mask], dim=-1))
        g = self.global_in(torch.cat([timestep_embedding(t, self.cfg.global_dim), conditions], dim=-1))
        for layer in self.layers:
            x, e = layer(x, e, g)
        return [head(x) for head in self.node_heads], self.edge_head(e).expand(b, n, n, -1)
