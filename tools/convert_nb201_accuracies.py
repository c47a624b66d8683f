"""Maintainer tool: convert the benchmark files of ``shared/data`` into hwdiff's package data.

Run once when the shipped data changes::

    python -m tools.convert_nb201_accuracies ../shared/data

It writes ``hwdiff/data/tables/nb201.npz``: accuracies and isomorphism classes of all 15,625
cells. The latency tables are converted by ``python -m tools.convert_help_latencies``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from hwdiff.data.nb201 import ARCH_CHECKSUM_KEY, TABLE_PATH
from hwdiff.spaces import get_space
from hwdiff.spaces.nb201 import nb201_order
from hwdiff.storage import atomic_path

DATASETS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "imagenet16": "ImageNet"}


def convert_nb201_accuracies(data: Path) -> None:
    order = list(nb201_order())
    with open(data / "nasbench201" / "nats_bench.csv", newline="") as f:
        rows200 = list(csv.DictReader(f))
    with open(data / "nasbench201" / "nb201_12epoch.csv", newline="") as f:
        rows12 = list(csv.DictReader(f))
    if [r["ArchitectureString"] for r in rows200] != order:
        raise SystemExit("nats_bench.csv is not in NB201 index order")
    if [r["arch_str"] for r in rows12] != order or [int(r["index"]) for r in rows12] != list(range(len(order))):
        raise SystemExit("nb201_12epoch.csv is not in NB201 index order")
    arrays: dict[str, np.ndarray] = {}
    for ds, col in DATASETS.items():
        arrays[f"test200_{ds}"] = np.array([float(r[f"{col}TestAccuracy200Epochs"]) for r in rows200])
        arrays[f"valid12_{ds}"] = np.array([float(r[f"{ds}_valid_12ep"]) for r in rows12])
        arrays[f"test12_{ds}"] = np.array([float(r[f"{ds}_test_12ep"]) for r in rows12])
    unique_strings = [r["UniqueString"] for r in rows200]
    class_of: dict[str, int] = {}
    arrays["isomorphism_class"] = np.array(
        [class_of.setdefault(s, len(class_of)) for s in unique_strings], dtype=np.int32)
    arrays[ARCH_CHECKSUM_KEY] = np.array(get_space("nb201").order_checksum)
    with atomic_path(TABLE_PATH) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    print(f"wrote {TABLE_PATH} ({TABLE_PATH.stat().st_size} bytes)")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m tools.convert_nb201_accuracies SHARED_DATA_DIR")
    data = Path(argv[0])
    convert_nb201_accuracies(data)


if __name__ == "__main__":
    main()
