"""Maintainer tool: convert HELP's NB201 latency lists into shipped table profiles.

Run once when the shipped data changes::

    python -m tools.convert_help_latencies ../shared/data

Each ``help_latency/nb201/latency/DEVICE.pt`` becomes ``profiles/DEVICE-nb201-table.json``,
with the provenance of ``devices/DEVICE.toml``. The ``.pt`` files are zip containers holding a
pickled plain list; they are read with an unpickler that refuses every class, so no code from
the file can run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import pickle
import sys
import zipfile
from pathlib import Path

from hwdiff.hardware.devices import shipped_device_specs
from hwdiff.hardware.profiles import TableProfile
from hwdiff.storage import shipped_dir


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain lists expected")


def read_help_list(path: Path) -> list[float]:
    with zipfile.ZipFile(path) as z:
        member = next(n for n in z.namelist() if n.endswith("data.pkl"))
        value = _PlainUnpickler(io.BytesIO(z.read(member))).load()
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) for v in value):
        raise ValueError(f"{path}: expected a list of numbers")
    return [float(v) for v in value]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert_nb201_latencies(data: Path) -> None:
    specs = shipped_device_specs()
    for path in sorted((data / "help_latency" / "nb201" / "latency").glob("*.pt")):
        device = path.stem
        spec = specs.get(device)
        table = spec.table("nb201") if spec else None
        if table is None:
            raise SystemExit(f"no [tables.nb201] in devices/{device}.toml for {path.name}")
        values = read_help_list(path)
        if len(values) != 15625 or min(values) <= 0:
            raise SystemExit(f"{path}: expected 15,625 positive latencies")
        provenance = {
            "source": table.source,
            "origin_file": f"HayeonLee/HELP data/nasbench201/latency/{path.name}",
            "origin_sha256": sha256(path),
            "licence": table.licence,
            "converted": dt.date.today().isoformat(),
            "converted_by": "python -m tools.convert_help_latencies",
            "notes": spec.notes,
            **spec.profiling,
        }
        profile = TableProfile.from_index_order(
            device=device, space="nb201", dataset=table.dataset,
            latencies_ms=values, provenance=provenance)
        out = shipped_dir("profiles") / table.file
        profile.save(out, force=True)
        print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m tools.convert_help_latencies SHARED_DATA_DIR")
    convert_nb201_latencies(Path(argv[0]))


if __name__ == "__main__":
    main()
