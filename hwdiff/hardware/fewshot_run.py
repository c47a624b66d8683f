"""``hwdiff profile --networks N``: measure a few-shot profile on this machine, resumably; or plan one (``--plan``).

A few-shot run is a lut run (``hardware/profiling.py``) with no layers and only networks: the ``N``
networks of the fixed design (``few_shot_design``: reproducible for ``seed``) and ``holdout`` more,
drawn at random from the rest of the space, which the fit never sees and which state the profile's
error. The same jobs, rounds, side file and ``--resume`` as a lut run; the same provenance (backend,
precision, batch, threads, software versions, the machine's facts).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwdiff.errors import HwdiffError, check_seed
from hwdiff.hardware import profiling
from hwdiff.hardware.fewshot import DEFAULT_HOLDOUT, DEFAULT_NETWORKS, FewShotProfile, few_shot_design, random_archs
from hwdiff.hardware.profiles import profile_filename
from hwdiff.hardware.profiling import (
    NETWORK_TIMING,
    FinishedRun,
    MeasurementPlan,
    check_rounds_and_seed,
    measurement_setup,
    median_of_rounds,
    run_provenance,
)
from hwdiff.hardware.timing import TimingSettings
from hwdiff.hardware.transfer import MIN_NETWORKS, load_transfer_model
from hwdiff.spaces.base import LutLayer
from hwdiff.storage import atomic_write_text

MAX_NETWORKS = 1000
MIN_HOLDOUT = 3


@dataclass(frozen=True)
class FewShotPlan(MeasurementPlan):
    """Everything that decides the figures of a few-shot profile (what ``--resume`` must find unchanged)."""

    networks: int = DEFAULT_NETWORKS
    holdout: int = DEFAULT_HOLDOUT
    rounds: int = 3
    seed: int = 0
    network_timing: TimingSettings = NETWORK_TIMING
    device_override: str | None = None  # the device guard's refusal that --force-device overrode

    @property
    def filename(self) -> str:
        return profile_filename(self.device, self.space, "fewshot")

    def measured_layers(self) -> list[LutLayer]:
        return []

    def measured_archs(self) -> list[str]:
        """The design's networks, then the held-out ones (another random stream of the same seed)."""
        design = few_shot_design(self.space, self.networks, self.seed)
        return design + random_archs(self.space, self.holdout, np.random.default_rng([self.seed, 1]), exclude=design)

    def assemble(self, run: FinishedRun) -> FewShotProfile:
        measured = [median_of_rounds(run.partial.results, self, f"net/{i}")[0] for i in range(len(run.archs))]
        n = self.networks
        holdout = (run.archs[n:], measured[n:]) if len(run.archs) > n else None
        return FewShotProfile.fit(device=self.device, space=self.space, dataset=self.dataset, archs=run.archs[:n],
                                  latency_ms=measured[:n], provenance=run_provenance(self, run), holdout=holdout)

    def describe(self) -> str:
        return f"{self.networks} design networks and {self.holdout} held-out ones"


def check_network_counts(space: str, networks: int, holdout: int | None) -> None:
    """``holdout`` None: a ``--plan`` (no held-out networks; whoever imports it states the error)."""
    if not MIN_NETWORKS <= networks <= MAX_NETWORKS:
        raise HwdiffError(f"--networks must be {MIN_NETWORKS}..{MAX_NETWORKS} (a few-shot profile needs at least "
                          f"{MIN_NETWORKS} measured networks), got {networks}")
    if holdout is not None and not (holdout == 0 or MIN_HOLDOUT <= holdout <= MAX_NETWORKS):
        raise HwdiffError(f"--holdout must be 0 (state the error by leave-one-out) or {MIN_HOLDOUT}..{MAX_NETWORKS} "
                          f"networks (a rank correlation needs a few), got {holdout}")
    load_transfer_model(space)  # one line naming the maintainer command where no model ships


def plan_few_shot(device: str, *, networks: int = DEFAULT_NETWORKS, holdout: int = DEFAULT_HOLDOUT,
                  space: str = "nb201", dataset: str | None = None, backend: str | None = None,
                  precision: str | None = None, batch_size: int | None = None, threads: int | None = None,
                  rounds: int = 3, seed: int = 0, network_timing: TimingSettings | None = None,
                  force_device: bool = False) -> FewShotPlan:
    """The device spec's ``[profiling]`` defaults, overridden by the given options, checked (as ``plan_profile``)."""
    setup = measurement_setup(device, space=space, dataset=dataset, backend=backend, precision=precision,
                              batch_size=batch_size, threads=threads, force_device=force_device)
    check_network_counts(space, networks, holdout)
    check_rounds_and_seed(rounds, seed)
    return FewShotPlan(**setup, networks=networks, holdout=holdout, rounds=rounds, seed=seed,
                       network_timing=network_timing or profiling.NETWORK_TIMING)  # read now: tests patch it


def write_plan_csv(path: Path, space: str, networks: int, seed: int, force: bool = False) -> list[str]:
    """``--plan``: the design's archs under an ``arch,latency_ms`` header with empty latencies; nothing measured.

    Fill in the latencies with any tool and import the file with ``--from-table``.
    """
    check_network_counts(space, networks, None)
    check_seed("--seed", seed)
    path = Path(path)
    if path.exists() and not force:
        raise HwdiffError(f"{path} already exists; pass --force to replace it")
    if path.parent.exists() and not path.parent.is_dir() or path.is_dir():
        raise HwdiffError(f"--plan {path}: not a file in a folder")
    archs = few_shot_design(space, networks, seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["arch", "latency_ms"])
    writer.writerows([arch, ""] for arch in archs)
    try:
        atomic_write_text(path, text.getvalue())
    except OSError as exc:
        raise HwdiffError(f"--plan {path}: cannot be written ({exc.strerror or exc})") from None
    return archs
