"""What a latency figure is: a profile's milliseconds are not all the same quantity.

Shipped tables and models hold batch-1 latencies (HW-NAS-Bench, HELP at batch 1, zcu102), the
latency of a call on a batch (HELP's GPU tables at batch 32 and 256; vck190 at its DPU's batch 6,
whose source does not say whether per batch or per image), or time per image from a throughput
(effnet's a100, rtx3090, tpuv2 at batch 256 and tpuv3 at 128: 1000 / images per second). The
profile knows which (``Profile.latency_kind``, from its provenance's batch size and measured
quantity, or a ``latency_kind`` it states outright); every output names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("batch1_latency", "batch_latency", "per_image_from_throughput", "latency_batch_unknown")


@dataclass(frozen=True)
class LatencyKind:
    """What a profile's milliseconds are: batch-1 latency, the latency of one batch of B, or the time per image
    from throughput at batch B (1000 / images-per-second: effnet's a100, rtx3090, tpuv2, tpuv3)."""

    key: str  # "batch1_latency" | "batch_latency" | "per_image_from_throughput" | "latency_batch_unknown"
    batch: int | None

    @classmethod
    def of(cls, provenance: dict[str, Any]) -> LatencyKind:
        """From a profile's provenance: its measured quantity and batch size."""
        stated = provenance.get("latency_kind")  # a profile may state it outright (the kind's to_json)
        if isinstance(stated, dict):
            try:
                return cls.from_json(stated)
            except ValueError:
                pass
        batch = provenance.get("batch_size")
        batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1 else None
        measured = f"{provenance.get('measured', '')} {provenance.get('conversion', '')}".lower()
        if "throughput" in measured:
            return cls("per_image_from_throughput", batch)
        if batch is None:
            return cls("latency_batch_unknown", None)
        return cls("batch1_latency" if batch == 1 else "batch_latency", batch)

    @property
    def label(self) -> str:
        """For sentences, plot axes and table titles."""
        at = f" at batch {self.batch}" if self.batch else ""
        return {"batch1_latency": "batch-1 latency",
                "batch_latency": f"batch-{self.batch} latency (the time of a call on {self.batch} images)",
                "per_image_from_throughput": f"per-image time from throughput{at} (1000 / images per s)",
                "latency_batch_unknown": "latency (batch size not recorded)"}[self.key]

    @property
    def short(self) -> str:
        """For table headers."""
        return {"batch1_latency": "batch-1 latency", "batch_latency": f"batch-{self.batch} latency",
                "per_image_from_throughput": f"ms/image, 1/throughput{' @b' + str(self.batch) if self.batch else ''}",
                "latency_batch_unknown": "latency"}[self.key]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.key, "batch": self.batch, "label": self.label}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LatencyKind:
        if doc.get("kind") not in KINDS:
            raise ValueError(f"unknown latency kind {doc.get('kind')!r}")
        return cls(doc["kind"], doc.get("batch"))
