"""Batches of categorical graphs as diffusion sees them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class GraphBatch:
    """``nodes`` long ``[B, N, A]`` (one category per attribute), ``edges`` long ``[B, N, N]``."""

    nodes: torch.Tensor
    edges: torch.Tensor

    @classmethod
    def from_numpy(cls, nodes: np.ndarray, edges: np.ndarray, device: torch.device | str = "cpu") -> GraphBatch:
        return cls(torch.as_tensor(nodes, dtype=torch.long, device=device),
                   torch.as_tensor(edges, dtype=torch.long, device=device))

    def __len__(self) -> int:
        return self.nodes.shape[0]

    def __getitem__(self, index) -> GraphBatch:
        return GraphBatch(self.nodes[index], self.edges[index])

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(self.nodes.to(device), self.edges.to(device))

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.nodes.cpu().numpy(), self.edges.cpu().numpy()


@dataclass(frozen=True)
class GraphLayout:
    """What diffusion needs of a graph family: category counts, generated positions, allowed categories.

    The caller builds it (``hwdiff.generator.model.graph_layout`` from a space's ``GraphSpec``).
    """

    num_nodes: int
    node_classes: tuple[int, ...]
    edge_classes: int
    node_mask: torch.Tensor  # bool [N]
    edge_mask: torch.Tensor  # bool [N, N]
    allowed: tuple[torch.Tensor, ...]  # bool [N, K_a] per attribute
    fixed_edges: torch.Tensor  # long [N, N]; zeros where edges are generated

    @property
    def has_free_edges(self) -> bool:
        return bool(self.edge_mask.any())
