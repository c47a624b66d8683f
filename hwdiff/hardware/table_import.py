"""Import a user's per-architecture latency measurements (CSV ``arch,latency_ms``) as a profile.

A CSV that covers the whole space becomes a ``table`` profile. One with fewer rows becomes a
``fewshot`` profile when the space ships a transfer latency model (``hardware/transfer.py``): the
model, adapted to the rows, predicts every other arch. A space without one keeps a partial table.
"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import numpy as np

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.hardware.fewshot import FewShotProfile
from hwdiff.hardware.profiles import (
    MAX_LATENCY_MS,
    Profile,
    TableProfile,
    claim_profile_path,
    profile_filename,
    profile_path,
)
from hwdiff.hardware.transfer import MIN_NETWORKS, load_transfer_model, transfer_path
from hwdiff.spaces import get_space, space_names
from hwdiff.storage import read_user_file, utc_timestamp

REQUIRED_COLUMNS = ("arch", "latency_ms")
# Latencies this many times below the fastest shipped device's, on the same networks, are taken for seconds.
SECONDS_FACTOR = 100


def _other_space(arch: str, space_name: str) -> str:
    """A hint naming the other registered space ``arch`` belongs to (``pass --space effnet``), else ``""``."""
    for name in space_names():
        if name != space_name and get_space(name).is_valid(arch):
            return f" (it is an architecture of space {name}: pass --space {name})"
    return ""


def read_latency_csv(path: Path, space_name: str) -> dict[str, float]:
    """Canonical arch -> latency (ms); every problem raises one ``HwdiffError`` naming file and line."""
    space = get_space(space_name)
    raw = read_user_file(path)
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
                raise HwdiffError(f"{path} line {line}: {exc}{_other_space(arch_text, space_name)}") from None
            try:
                value = float(value_text)
            except ValueError:
                raise HwdiffError(f"{path} line {line}: latency_ms {value_text!r} is not a number; "
                                  "expected a positive number of milliseconds") from None
            if not math.isfinite(value) or not 0 < value <= MAX_LATENCY_MS:
                raise HwdiffError(f"{path} line {line}: latency_ms {value_text} is not allowed; "
                                  f"expected a positive, finite number of milliseconds up to {MAX_LATENCY_MS:g}")
            if arch in latencies and latencies[arch] != value:
                raise HwdiffError(f"{path} line {line}: duplicate arch {arch} with latency_ms {value_text} (first on "
                                  f"line {first_line[arch]} with {latencies[arch]:g}); give one latency per arch")
            if arch in latencies:  # the same row twice (a file joined from parts): counted once
                continue
            latencies[arch] = value
            first_line[arch] = line
    except csv.Error as exc:
        raise HwdiffError(f"{path} is not a readable CSV file ({exc})") from None
    if not latencies:
        raise HwdiffError(f"{path} has a header but no rows; expected one row per arch")
    return latencies


def check_milliseconds(path: Path, latencies: dict[str, float], space: str) -> None:
    """Refuse latencies that are clearly seconds: their median ratio to the fastest shipped device's
    latency on the same networks (the transfer model's source devices) below ``1 / SECONDS_FACTOR``."""
    if not transfer_path(space).exists():
        return
    model = load_transfer_model(space)
    archs = list(latencies)
    source_log_ms = model.source_log_latency(archs)  # [rows, devices]
    fastest = source_log_ms.argmin(axis=1)
    ratio = float(np.median(np.log([latencies[a] for a in archs]) - source_log_ms[np.arange(len(archs)), fastest]))
    if ratio < -np.log(SECONDS_FACTOR):
        device = model.source_devices[int(np.bincount(fastest).argmax())]
        raise HwdiffError(f"{path}: latency_ms looks like seconds: the figures are {np.exp(-ratio):.0f}x below the "
                          f"fastest shipped {space} device ({device}) on the same networks (more than "
                          f"{SECONDS_FACTOR}x is taken for seconds); give milliseconds (x 1000)")


def import_kind(space: str, rows: int) -> str:
    """``table`` for the whole space (or a space without a transfer model), else ``fewshot``."""
    if rows == get_space(space).size or not transfer_path(space).exists():
        return "table"
    return "fewshot"


def import_latency_table(path: Path, *, device: str, space: str, dataset: str | None = None,
                         out: Path | None = None, force: bool = False) -> Profile:
    """Read ``path`` and write it as a table or few-shot profile (default: the user's profile store);
    ``dataset``: recorded when given (checked), else left empty."""
    if dataset is not None:
        get_space(space).dataset(dataset)
    latencies = read_latency_csv(path, space)
    kind = import_kind(space, len(latencies))
    if kind == "fewshot" and len(latencies) < MIN_NETWORKS:
        raise HwdiffError(f"{path}: {len(latencies)} arch(s); a few-shot profile needs at least {MIN_NETWORKS} "
                          f"measured networks (a table profile: all {get_space(space).size} archs of {space})")
    target = profile_path(profile_filename(device, space, kind), out)
    claim_profile_path(target, force)
    check_milliseconds(path, latencies, space)
    provenance = {
        "source": f"imported from {Path(path).name}",
        "origin_file": str(Path(path).resolve()),
        "origin_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "imported": utc_timestamp(),
        "imported_by": f"hwdiff {__version__}",
    }
    if kind == "fewshot":
        profile = FewShotProfile.fit(device=device, space=space, dataset=dataset or "", archs=list(latencies),
                                     latency_ms=list(latencies.values()), provenance=provenance)
    else:
        profile = TableProfile.from_archs(device=device, space=space, dataset=dataset or "",
                                          latencies=latencies, provenance=provenance)
    profile.save(target, force=force)
    return profile
