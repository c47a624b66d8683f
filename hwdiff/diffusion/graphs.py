"""Batches of categorical graphs as diffusion sees them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hwdiff.spaces.base import GraphSpec


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
    """Tensor view of a ``GraphSpec``: category counts, generated positions, allowed categories."""

    num_nodes: int
    node_classes: tuple[int, ...]
    edge_classes: int
    node_mask: torch.Tensor  # bool [N]
    edge_mask: torch.Tensor  # bool [N, N]
    allowed: tuple[torch.Tensor, ...]  # bool [N, K_a] per attribute
    fixed_edges: torch.Tensor  # long [N, N]; zeros where edges are generated

    @classmethod
    def from_spec(cls, spec: GraphSpec) -> GraphLayout:
        n = spec.num_nodes
        fixed = spec.fixed_edges if spec.fixed_edges is not None else np.zeros((n, n), dtype=np.int64)
        return cls(
            num_nodes=n,
            node_classes=tuple(len(a.categories) for a in spec.node_attributes),
            edge_classes=len(spec.edge_categories),
            node_mask=torch.as_tensor(spec.node_mask),
            edge_mask=torch.as_tensor(spec.edge_mask),
            allowed=tuple(torch.as_tensor(spec.allowed_mask(a)) for a in range(len(spec.node_attributes))),
            fixed_edges=torch.as_tensor(np.asarray(fixed, dtype=np.int64)),
        )

    @property
    def has_free_edges(self) -> bool:
        return bool(self.edge_mask.any())
