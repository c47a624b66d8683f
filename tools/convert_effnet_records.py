"""Maintainer tool: convert the Accel-NASBench records CSV into hwdiff's package data.

Run once when the shipped data changes::

    python -m tools.convert_effnet_records ../shared/data

It writes ``hwdiff/data/tables/effnet_records.npz`` (read by ``hwdiff.data.effnet``), after checking
that every record's params and MACs equal those of the network hwdiff builds for it.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import numpy as np

from hwdiff.data.effnet import RECORDS_PATH, SOURCE_FILE, VALUE_COLUMNS
from hwdiff.spaces.effnet.layers import count
from hwdiff.spaces.effnet.space import ATTRIBUTES, NUM_STAGES, format_values
from hwdiff.storage import atomic_path

_CSV_ATTRIBUTE = {"expansion": "e", "kernel": "k", "layers": "l", "se": "se"}


def read_records_csv(path: Path) -> dict[str, np.ndarray]:
    """The CSV as arrays, every record's params/MACs checked against the effnet networks (within 1 %)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    values = np.array([[[int(r[f"block{b}_{_CSV_ATTRIBUTE[a]}"]) for a in ATTRIBUTES] for b in range(NUM_STAGES)]
                       for r in rows], dtype=np.int8)
    arrays: dict[str, np.ndarray] = {
        "id": np.array([int(r["id"]) for r in rows], dtype=np.int32),
        "arch_values": values,
    }
    for col in VALUE_COLUMNS:
        arrays[col] = np.array([float(r[col]) if r[col] else np.nan for r in rows], dtype=np.float32)
    for arch, params, macs in zip(format_values(values), arrays["params_m"], arrays["macs_m"]):
        c = count(arch)
        if abs(c.params / 1e6 / params - 1) > 0.01 or abs(c.macs_thop / 1e6 / macs - 1) > 0.01:
            raise SystemExit(f"{arch}: counts {c} disagree with the record ({params} M params, {macs} M MACs)")
    arrays["source_sha256"] = np.array(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    return arrays


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m tools.convert_effnet_records SHARED_DATA_DIR")
    arrays = read_records_csv(Path(argv[0]) / SOURCE_FILE)
    with atomic_path(RECORDS_PATH) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    print(f"wrote {RECORDS_PATH} ({len(arrays['id'])} records, {RECORDS_PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
