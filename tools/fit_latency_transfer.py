"""Maintainer command: fit the shipped few-shot latency models (``hwdiff/hardware/transfer.py``).

    python -m tools.fit_latency_transfer [--space nb201] [--space effnet] [--profile FILE ...]

Sources: nb201, every shipped whole-space table profile (24 device settings, HELP / HW-NAS-Bench);
effnet, every device measured in the Accel-NASBench records (6). ``--profile FILE`` adds a profile
on hand (a lut profile, say) as one more source device, evaluated on the space's reference archs.
Writes ``hwdiff/data/tables/latency_transfer_<space>.npz``. Seconds on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import TableProfile, read_profile
from hwdiff.hardware.transfer import TransferModel, fit_transfer_model, transfer_path
from hwdiff.storage import shipped_dir

SPACES = ("nb201", "effnet")
Sources = dict[str, tuple[list[str], np.ndarray]]


def shipped_sources(space: str) -> Sources:
    """Device -> (archs, latency ms) of every shipped measurement of ``space``."""
    if space == "effnet":
        from hwdiff.data.effnet import MEASUREMENTS, effnet_records

        records = effnet_records()
        sources: Sources = {}
        for device in MEASUREMENTS:
            latency = records.latency_ms(device)
            keep = np.isfinite(latency)
            sources[device] = ([a for a, k in zip(records.archs, keep) if k], latency[keep])
        return sources
    sources = {}
    for path in sorted(shipped_dir("profiles").glob("*.json")):
        profile = read_profile(path)
        if isinstance(profile, TableProfile) and profile.space == space:
            archs, latency = zip(*profile.items())
            sources[profile.device] = (list(archs), np.asarray(latency))
    if not sources:
        raise HwdiffError(f"no shipped table profiles for space {space!r}")
    return sources


def add_profile_sources(sources: Sources, paths: Sequence[Path], space: str) -> None:
    reference = list(dict.fromkeys(a for archs, _ in sources.values() for a in archs))
    for path in paths:
        profile = read_profile(path)
        if profile.space != space:
            continue
        sources[f"{profile.device} ({Path(path).name})"] = (reference, profile.predict(reference))


def fit_space(space: str, profiles: Sequence[Path] = ()) -> TransferModel:
    sources = shipped_sources(space)
    add_profile_sources(sources, profiles, space)
    return fit_transfer_model(space, sources)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.fit_latency_transfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", action="append", choices=SPACES, help="Default: both.")
    parser.add_argument("--profile", action="append", type=Path, default=[],
                        help="A profile file to use as one more source device.")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for space in args.space or SPACES:
        model = fit_space(space, args.profile)
        out = model.save(transfer_path(space))
        print(f"{space}: {len(model.source_devices)} source devices, {model.components} components, "
              f"{model.reference_archs} reference archs -> {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
