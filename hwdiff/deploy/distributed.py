"""One process or many (``torchrun``): the device, the process group, and the few collectives finetune needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from hwdiff.errors import HwdiffError

DEVICES = ("auto", "cpu", "cuda")


def _pick_device(name: str, local_rank: int) -> torch.device:
    if name not in DEVICES:
        raise HwdiffError(f"unknown --device {name!r}; accepted: {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise HwdiffError("--device cuda asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise HwdiffError(f"process {local_rank} on this node has no GPU ({torch.cuda.device_count()} visible); "
                          "use --nproc_per_node at most the number of GPUs")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


@dataclass
class DistContext:
    """Where this process stands: rank, world size and device. ``world_size == 1`` is a plain run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_primary(self) -> bool:
        """Only the primary process writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device: str = "auto") -> DistContext:
        """Join the process group ``torchrun`` describes in the environment (NCCL on GPUs, Gloo on CPU)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        dev = _pick_device(device, local_rank)
        if world_size == 1:
            return cls(0, 1, 0, dev, None)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, device_id=dev if dev.type == "cuda" else None)
        return cls(rank, world_size, local_rank, dev, backend)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (float64, so counts stay exact)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device if self.backend == "nccl" else "cpu")
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order (on every rank)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
