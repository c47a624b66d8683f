"""What is measured about effnet networks: the Accel-NASBench records, shipped in the package.

4,282 ImageNet records (Ahmad et al., DAC 2024; GitHub ``afzalxo/Accel-NASBench``, Apache-2.0): the
architecture, proxy-trained top-1/top-5 (percent), params and MACs (millions, thop convention),
FPGA latency (ms) and throughput (images/s) on six accelerators. Shipped as
``tables/effnet_records.npz`` (numpy arrays in the CSV's row order, read with ``allow_pickle=False``;
measurements as float32, empty cells as NaN). Provenance: docs/data.md; made by the maintainer
tool ``python -m tools.convert_effnet_records``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwdiff.data.shipped import read_npz
from hwdiff.errors import HwdiffError
from hwdiff.spaces.effnet.space import format_values

RECORDS_PATH = Path(__file__).resolve().parent / "tables" / "effnet_records.npz"
SOURCE_FILE = "accel_nasbench/anb_records.csv"
# CSV columns kept (float32); all-empty std columns of the source are dropped.
VALUE_COLUMNS = (
    "val_top1", "val_top5", "train_time_s", "macs_m", "params_m",
    "latency_zcu102_mean", "latency_vck190_mean",
    *(f"throughput_{d}_{s}" for d in ("a100", "3090", "tpuv2", "tpuv3") for s in ("mean", "std")),
    "throughput_zcu102_mean", "throughput_vck190_mean",
)


@dataclass(frozen=True)
class Measurement:
    """How one device's figures sit in the records: a latency (ms) or a throughput (images/s) column."""

    column: str
    quantity: str  # "latency" or "throughput"

    def to_latency_ms(self, values: np.ndarray) -> np.ndarray:
        """Milliseconds per image: latency as recorded; throughput T as 1000 / T (time per image at the batch)."""
        values = np.asarray(values, dtype=np.float64)
        return values if self.quantity == "latency" else 1000.0 / values


# hwdiff device name -> its measurement in the records (names as in devices/*.toml).
MEASUREMENTS: dict[str, Measurement] = {
    "a100": Measurement("throughput_a100_mean", "throughput"),
    "rtx3090": Measurement("throughput_3090_mean", "throughput"),
    "tpuv2": Measurement("throughput_tpuv2_mean", "throughput"),
    "tpuv3": Measurement("throughput_tpuv3_mean", "throughput"),
    "zcu102": Measurement("latency_zcu102_mean", "latency"),
    "vck190": Measurement("latency_vck190_mean", "latency"),
}


class EffNetRecords:
    """The shipped records: architectures (canonical strings) and their measured values."""

    def __init__(self, path: Path = RECORDS_PATH):
        self._arrays = read_npz(path, "effnet records")
        self.values = self._arrays["arch_values"].astype(np.int64)  # [N, 7, 4]: e, k, l, se
        self.archs = format_values(self.values)

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def source_sha256(self) -> str:
        return str(self._arrays["source_sha256"])

    def column(self, name: str) -> np.ndarray:
        """One measured column (float64, NaN where the source had no value)."""
        if name not in VALUE_COLUMNS:
            raise HwdiffError(f"no column {name!r} in the effnet records; accepted: {', '.join(VALUE_COLUMNS)}")
        return self._arrays[name].astype(np.float64)

    def latency_ms(self, device: str) -> np.ndarray:
        """Measured milliseconds per image on ``device`` (NaN where not measured)."""
        if device not in MEASUREMENTS:
            raise HwdiffError(f"no effnet measurements for device {device!r}; accepted: {', '.join(MEASUREMENTS)}")
        m = MEASUREMENTS[device]
        return m.to_latency_ms(self.column(m.column))


@functools.lru_cache(maxsize=1)
def effnet_records() -> EffNetRecords:
    return EffNetRecords()
