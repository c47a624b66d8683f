"""Import a user's per-architecture latency measurements (CSV ``arch,latency_ms``) as a table profile."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import TableProfile, claim_profile_path, profile_filename, profile_path
from hwdiff.spaces import get_space
from hwdiff.storage import utc_timestamp

REQUIRED_COLUMNS = ("arch", "latency_ms")


def read_latency_csv(path: Path, space_name: str) -> dict[str, float]:
    """Canonical arch -> latency (ms); every problem raises one ``HwdiffError`` naming file and line."""
    space = get_space(space_name)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise HwdiffError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HwdiffError(f"{path} is not a CSV text file (not UTF-8); expected columns "
                          f"{','.join(REQUIRED_COLUMNS)}") from None
    if "\x00" in text:
        raise HwdiffError(f"{path} is not a CSV text file (binary content); expected columns "
                          f"{','.join(REQUIRED_COLUMNS)}")
    if not text.strip():
        raise HwdiffError(f"{path} is empty; expected a header '{','.join(REQUIRED_COLUMNS)}' and one row per arch")
    try:
        reader = csv.DictReader(text.splitlines())
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise HwdiffError(f"{path} is not a readable CSV file ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise HwdiffError(f"{path}: missing column(s) {', '.join(missing)}; found "
                          f"{', '.join(repr(h) for h in header) or 'none'}, expected {','.join(REQUIRED_COLUMNS)}")
    reader.fieldnames = header
    latencies: dict[str, float] = {}
    first_line: dict[str, int] = {}
    try:
        for line, row in enumerate(reader, start=2):
            arch_text = (row.get("arch") or "").strip()
            value_text = (row.get("latency_ms") or "").strip()
            try:
                arch = space.canonical(arch_text)
            except HwdiffError as exc:
                raise HwdiffError(f"{path} line {line}: {exc}") from None
            try:
                value = float(value_text)
            except ValueError:
                raise HwdiffError(f"{path} line {line}: latency_ms {value_text!r} is not a number; "
                                  "expected a positive number of milliseconds") from None
            if not math.isfinite(value) or value <= 0:
                raise HwdiffError(f"{path} line {line}: latency_ms {value_text} is not allowed; "
                                  "expected a positive, finite number of milliseconds")
            if arch in latencies:
                raise HwdiffError(f"{path} line {line}: duplicate arch {arch} (first on line {first_line[arch]})")
            latencies[arch] = value
            first_line[arch] = line
    except csv.Error as exc:
        raise HwdiffError(f"{path} is not a readable CSV file ({exc})") from None
    if not latencies:
        raise HwdiffError(f"{path} has a header but no rows; expected one row per arch")
    return latencies


def import_latency_table(path: Path, *, device: str, space: str, dataset: str = "",
                         out: Path | None = None, force: bool = False) -> TableProfile:
    """Read ``path`` and write it as a table profile (default: the user's profile store)."""
    latencies = read_latency_csv(path, space)
    target = profile_path(profile_filename(device, space, "table"), out)
    claim_profile_path(target, force)
    provenance = {
        "source": f"imported from {Path(path).name}",
        "origin_file": str(Path(path).resolve()),
        "origin_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "imported": utc_timestamp(),
        "imported_by": f"hwdiff {__version__}",
    }
    profile = TableProfile.from_archs(device=device, space=space, dataset=dataset,
                                      latencies=latencies, provenance=provenance)
    profile.save(target, force=force)
    return profile
