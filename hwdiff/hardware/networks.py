"""Whole networks timed on this machine exactly as a profile times its networks (``hwdiff search --verify``).

A ``NetworkRun`` is a profile's measurement setup (backend, target, precision, batch, threads) with
its rounds, network timing settings and real-time priority; ``measure_networks`` times the given architectures in
``rounds`` passes through the profile run's own job loop (``profiling.time_jobs``: the same
runners and ``measure_latency``), each figure the median of its passes. ``setup_of_profile`` reads
that setup back from a measured profile's provenance, so a network is timed the way the profile's
own networks were; imported profiles fall back to the device spec's ``[profiling]`` defaults.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.hardware.backends import BackendOptions, create_backend
from hwdiff.hardware.device_guard import machine_mismatch
from hwdiff.hardware.devices import get_device
from hwdiff.hardware.facts import cpu_facts, machine_identity, nvidia_facts
from hwdiff.hardware.profiling import (
    NETWORK_TIMING,
    TARGET_BY_KIND,
    MeasurementPlan,
    loadavg,
    measurement_setup,
    median_of_rounds,
    plan_jobs,
    realtime_priority,
    time_jobs,
)
from hwdiff.hardware.timing import Measurement, TimingSettings
from hwdiff.spaces import get_space

if TYPE_CHECKING:
    from hwdiff.hardware.profiles import Profile

MAX_NETWORKS = 100  # a run is minutes per ten networks on a small board


@dataclass(frozen=True)
class NetworkRun(MeasurementPlan):
    """How whole networks are timed: where and with what (a profile's measurement setup), how many passes,
    with which timing settings."""

    rounds: int = 3
    network_timing: TimingSettings = NETWORK_TIMING
    realtime: bool = False  # time under SCHED_FIFO, as ``profile --realtime`` does

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> NetworkRun:
        try:
            return cls(**{**doc, "network_timing": TimingSettings.from_json(doc["network_timing"])})
        except (KeyError, TypeError) as exc:
            raise HwdiffError(f"not a network run ({exc}); both ends must run the same hwdiff version") from None


@dataclass(frozen=True)
class NetworkTiming:
    """One network's figure: the median over the run's passes, and each pass's measurement."""

    arch: str
    measured_ms: float
    rounds: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def setup_of_profile(profile: Profile) -> dict[str, Any]:
    """The options a profile's networks were measured with (``None``: the device spec decides).

    A measured profile (lut or few-shot) records backend, precision, batch, threads, and in its plan
    the rounds and network timing; an imported one records none of them.
    """
    prov = profile.provenance or {}
    plan = prov.get("plan") if isinstance(prov.get("plan"), dict) else {}
    timing = plan.get("network_timing")
    return {"backend": prov.get("backend"), "precision": prov.get("precision"), "batch_size": prov.get("batch_size"),
            "threads": prov.get("threads"), "rounds": plan.get("rounds", 3),
            "network_timing": timing if isinstance(timing, dict) else None,
            "realtime": prov.get("realtime_priority") is True}


def plan_network_run(device: str, *, space: str, dataset: str, backend: str | None = None,
                     precision: str | None = None, batch_size: int | None = None, threads: int | None = None,
                     rounds: int = 3, network_timing: dict[str, Any] | None = None,
                     realtime: bool = False) -> NetworkRun:
    """A run on this machine, checked: the device must be one hwdiff runs networks on, and this machine;
    ``realtime`` (the profile was timed under SCHED_FIFO) must be allowed here."""
    spec = get_device(device)
    if spec.kind not in TARGET_BY_KIND:
        article = "an" if spec.kind[0] in "aeiou" else "a"
        raise HwdiffError(f"device {spec.name} is {article} {spec.kind} device, which hwdiff cannot run networks "
                          "on: its profile's figures were measured with the device's own tools, and nothing here can "
                          "measure more")
    mismatch = machine_mismatch(spec)
    if mismatch:
        raise HwdiffError(f"cannot measure device {spec.name} here: {mismatch}; measure on the device itself "
                          "(--remote ssh://user@board)")
    setup = measurement_setup(spec.name, space=space, dataset=dataset, backend=backend, precision=precision,
                              batch_size=batch_size, threads=threads)
    setup.pop("device_override")
    timing = TimingSettings.from_json(network_timing) if network_timing else NETWORK_TIMING
    if realtime:
        with realtime_priority(True):  # the profile's networks were timed so: refuse now, not after the search
            pass
    return NetworkRun(**setup, rounds=rounds, network_timing=timing, realtime=realtime)


def this_machine() -> list[Any]:
    """``machine_identity`` of this machine."""
    return machine_identity({"cpu": cpu_facts(), "nvidia": nvidia_facts()})


def measure_networks(run: NetworkRun, archs: list[str],
                     progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Time ``archs`` (canonical strings) as ``run`` says; the figures with the backend's versions, the host
    and the load average before and after."""
    if not 1 <= len(archs) <= MAX_NETWORKS:
        raise HwdiffError(f"measure 1..{MAX_NETWORKS} networks at a time, got {len(archs)}")
    space = get_space(run.space)
    archs = [space.canonical(arch) for arch in archs]
    backend = create_backend(run.backend, BackendOptions(target=run.target, precision=run.precision,
                                                         threads=run.threads, batch_size=run.batch_size))
    results: dict[str, dict[str, Any]] = {}

    def record(job: Any, measurement: Measurement) -> None:
        results[job.id] = measurement.to_json(with_settings=False)

    before = loadavg()
    jobs = plan_jobs(run, [], archs)
    with realtime_priority(run.realtime):
        time_jobs(run, jobs, archs, backend, record, progress=progress)
    if progress:
        progress(len(jobs), len(jobs), "done")
    timings = [NetworkTiming(arch, *median_of_rounds(results, run, f"net/{i}")) for i, arch in enumerate(archs)]
    return {"networks": [t.to_json() for t in timings], "versions": backend.versions(), "host": platform.node(),
            "hwdiff": __version__, "load_average": {"before": before, "after": loadavg()}}
