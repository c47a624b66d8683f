"""``hwdiff profile``: measure a lookup-table profile on this machine, resumably.

A run is a list of jobs, each one timing: every LUT layer of the space (repeatable layers twice,
alone and as a chain of ``chain`` copies, to get the marginal cost of one; context entries as a
chain only) and ``validate`` random networks of the space, whole. Jobs run in ``rounds`` passes
over the list, so that each figure is the median of measurements spread over the whole run: slow
drifts of the machine (other work, temperature) then hit layers and networks alike instead of
biasing a few of them.

Finished measurements go to a side file (``<profile>.json.partial``, written atomically every 2 s
and on the way out, Ctrl-C included); ``resume=True`` continues from it after Ctrl-C or a crash.
The final profile is written (atomically) only when every job is done; the side file is then
removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Container, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwdiff import __version__
from hwdiff.errors import HwdiffError, check_seed
from hwdiff.hardware.backends import BackendOptions, backend_class, backend_names, create_backend
from hwdiff.hardware.device_guard import machine_mismatch
from hwdiff.hardware.devices import DeviceSpec, get_device
from hwdiff.hardware.facts import ThrottleMonitor, local_facts, machine_identity, physical_cores
from hwdiff.hardware.lut import LutProfile, fit_calibration
from hwdiff.hardware.profiles import Profile, claim_profile_path, partial_path, profile_filename, profile_path
from hwdiff.hardware.timing import Measurement, TimingSettings, measure_latency
from hwdiff.metrics import validation_metrics
from hwdiff.spaces import get_space
from hwdiff.spaces.base import LutLayer
from hwdiff.storage import atomic_write_text, utc_timestamp

PARTIAL_SCHEMA = "hwdiff.profile-partial"
MAX_VALIDATE = 1000
# Bounds on numbers that size memory or threads (a job list grows with rounds; inputs with the batch).
MAX_ROUNDS = 100
MAX_BATCH = 4096
MAX_THREADS = 1024
# Kinds of device whose latency hwdiff can measure on the device itself, and where the work runs.
TARGET_BY_KIND = {"cpu": "cpu", "server-gpu": "cuda", "edge-gpu": "cuda"}
LAYER_TIMING = TimingSettings(warmup_runs=10, warmup_s=0.1, min_repeats=15, target_ci=0.005, max_time_s=0.5)
NETWORK_TIMING = TimingSettings(warmup_runs=10, warmup_s=0.1, min_repeats=15, target_ci=0.005, max_time_s=1.0)


@dataclass(frozen=True)
class MeasurementPlan:
    """What any measuring run (lut or few-shot) resolves from the device spec (``measurement_setup``).

    The fields come first in every plan's ``asdict`` (``--resume`` compares those dicts, keys in order).
    """

    device: str
    space: str
    dataset: str
    backend: str
    target: str
    precision: str
    batch_size: int
    threads: int

    def to_json(self) -> dict[str, Any]:
        """``device_override`` only where the guard was overridden (older plans lack it)."""
        doc = asdict(self)
        if doc.get("device_override") is None:
            doc.pop("device_override", None)
        return doc


@dataclass(frozen=True)
class ProfilePlan(MeasurementPlan):
    """Everything that decides the figures of a lut profile (what ``--resume`` must find unchanged)."""

    validate: int = 100
    rounds: int = 3
    chain: int = 8
    seed: int = 0
    context: bool = False  # measure the space's context entries (graph-compiling backends)
    layer_timing: TimingSettings = LAYER_TIMING
    network_timing: TimingSettings = NETWORK_TIMING
    device_override: str | None = None  # the device guard's refusal that --force-device overrode

    @property
    def filename(self) -> str:
        return profile_filename(self.device, self.space, self.backend, self.precision, f"b{self.batch_size}")

    def measured_layers(self) -> list[LutLayer]:
        return plan_layers(self)

    def measured_archs(self) -> list[str]:
        return validation_archs(self)

    def assemble(self, run: FinishedRun) -> LutProfile:
        return _assemble(self, run)

    def describe(self) -> str:
        return f"{len(get_space(self.space).lut_layers(self.dataset))} layers, {self.validate} validation networks"


def plan_profile(device: str, *, space: str = "nb201", dataset: str | None = None, backend: str | None = None,
                 precision: str | None = None, batch_size: int | None = None, threads: int | None = None,
                 validate: int = 100, rounds: int = 3, chain: int = 8, seed: int = 0, context: bool | None = None,
                 layer_timing: TimingSettings | None = None, network_timing: TimingSettings | None = None,
                 force_device: bool = False) -> ProfilePlan:
    """The device spec's ``[profiling]`` defaults, overridden by the given options, checked.

    ``context`` defaults to whether the backend compiles whole graphs (see ``LutLayer``);
    ``force_device``: measure even where this machine is not the spec's device (``device_guard``).
    """
    setup = measurement_setup(device, space=space, dataset=dataset, backend=backend, precision=precision,
                              batch_size=batch_size, threads=threads, lut=True, force_device=force_device)
    if not (validate == 0 or 4 <= validate <= MAX_VALIDATE):
        raise HwdiffError(f"--validate must be 0 (no validation) or 4..{MAX_VALIDATE} networks (half fit the "
                          f"calibration, half check it), got {validate}")
    if chain < 2:
        raise HwdiffError(f"chain must be >= 2, got {chain}")
    check_rounds_and_seed(rounds, seed)
    compiles = backend_class(setup["backend"]).compiles_graph
    return ProfilePlan(**setup, validate=validate, rounds=rounds, chain=chain, seed=seed,
                       context=compiles if context is None else context,
                       layer_timing=layer_timing or LAYER_TIMING, network_timing=network_timing or NETWORK_TIMING)


def check_rounds_and_seed(rounds: int, seed: int) -> None:
    """What every measuring plan bounds: rounds (the job list grows with them) and the seed of its networks."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise HwdiffError(f"--rounds must be >= 1 and at most {MAX_ROUNDS} (each figure is a median over rounds), "
                          f"got {rounds}")
    check_seed("--seed", seed)


def measurement_setup(device: str, *, space: str, dataset: str | None, backend: str | None, precision: str | None,
                      batch_size: int | None, threads: int | None, lut: bool = False,
                      force_device: bool = False) -> dict[str, Any]:
    """Device, space, dataset, backend, target, precision, batch size and threads of a run, checked, and
    ``device_override``: why this machine is not the device, where ``force_device`` measures it anyway.

    What any measuring run (lut or few-shot) on this machine resolves from the device spec and the options;
    ``lut``: the space must have a layer list.
    """
    spec = get_device(device)
    target = TARGET_BY_KIND.get(spec.kind)
    if target is None:
        raise HwdiffError(f"device {spec.name} is a {spec.kind} device, which hwdiff cannot run networks on; measure "
                          "it with its own tools and import the figures with `hwdiff profile --device "
                          f"{spec.name} --from-table FILE.csv`")
    mismatch = machine_mismatch(spec)
    if mismatch and not force_device:
        raise HwdiffError(f"{mismatch}; measure it on the device (`hwdiff profile --device {spec.name} --remote "
                          "ssh://user@board`), or import figures measured there (`--from-table FILE.csv`); "
                          "--force-device measures this machine anyway and records that in the profile")
    space_obj = get_space(space)
    dataset = space_obj.dataset_name(dataset)
    if lut:
        space_obj.lut_layers(dataset)  # a space without a layer list cannot have a lut profile
    if backend is None:
        backend = _spec_value(spec, "backend", "pytorch")
        if backend not in backend_names():
            raise HwdiffError(f"device {spec.name}'s spec ({spec.path}) names backend {backend!r}, which hwdiff cannot "
                              f"measure with; pass --backend, accepted: {', '.join(backend_names())}")
    elif backend not in backend_names():
        raise HwdiffError(f"unknown backend {backend!r}; accepted: {', '.join(backend_names())}")
    precision = _spec_value(spec, "precision", "fp32") if precision is None else precision  # "": refused below
    batch_size = batch_size if batch_size is not None else _spec_value(spec, "batch_size", 1)
    if batch_size < 1:
        raise HwdiffError(f"--batch must be a positive integer, got {batch_size}")
    if batch_size > MAX_BATCH:
        raise HwdiffError(f"--batch must be at most {MAX_BATCH}, got {batch_size}")
    threads = threads if threads is not None else _spec_value(spec, "threads", 0)
    if threads < 0:
        raise HwdiffError(f"--threads must be 0 (one per physical core) or more, got {threads}")
    if threads > MAX_THREADS:
        raise HwdiffError(f"--threads must be at most {MAX_THREADS}, got {threads}")
    threads = threads or physical_cores()
    backend_class(backend).check(BackendOptions(target=target, precision=precision, threads=threads,
                                                batch_size=batch_size))
    return {"device": spec.name, "space": space, "dataset": dataset, "backend": backend, "target": target,
            "precision": precision, "batch_size": batch_size, "threads": threads, "device_override": mismatch}


def _spec_value(spec: DeviceSpec, key: str, default: Any) -> Any:
    return spec.profiling.get(key, default)


@dataclass(frozen=True)
class Job:
    id: str
    label: str
    round: int
    layer: LutLayer | None = None
    copies: int = 1
    network: int | None = None  # index into the validation networks


def plan_layers(plan: ProfilePlan) -> list[LutLayer]:
    """The space's table entries this plan measures (context entries only for graph compilers)."""
    return [layer for layer in get_space(plan.space).lut_layers(plan.dataset) if plan.context or not layer.is_context]


def _copies(layer: LutLayer, chain: int) -> tuple[int, ...]:
    """Context entries need only the chain: their reference has the same chain ends, which cancel."""
    if layer.is_context:
        return (chain,)
    return (1, chain) if layer.repeatable else (1,)


def plan_jobs(plan: ProfilePlan, layers: list[LutLayer], archs: list[str]) -> list[Job]:
    jobs = []
    for r in range(plan.rounds):
        prefix = f"round {r + 1}/{plan.rounds}"
        for layer in layers:
            for copies in _copies(layer, plan.chain):
                times = f" x{copies}" if copies > 1 else ""
                jobs.append(Job(f"r{r}/layer/{layer.key}/x{copies}", f"{prefix}  layer {layer.key}{times}", r,
                                layer=layer, copies=copies))
        for i in range(len(archs)):
            jobs.append(Job(f"r{r}/net/{i}", f"{prefix}  network {i + 1}/{len(archs)}", r, network=i))
    return jobs


def validation_archs(plan: ProfilePlan) -> list[str]:
    """``plan.validate`` distinct random architectures, reproducible from ``plan.seed``."""
    space = get_space(plan.space)
    rng = np.random.default_rng(plan.seed)
    archs: dict[str, None] = {}
    while len(archs) < min(plan.validate, space.size):
        for arch in space.random_archs(plan.validate - len(archs), rng):
            archs.setdefault(arch)
    return list(archs)


@dataclass
class FinishedRun:
    """Every measurement of a finished run and the circumstances it ran in: what a plan assembles a profile of."""

    partial: _Partial
    layers: list[LutLayer]
    archs: list[str]
    versions: dict[str, Any]
    throttle_reasons: list[str]
    load_before: list[float]
    realtime: bool
    seconds: float
    resumed: bool


@dataclass
class RunReport:
    """What a finished run wants the user to know besides the profile itself."""

    profile: Profile
    jobs: int
    resumed_jobs: int
    seconds: float
    throttle_reasons: list[str]
    disturbed_share: float
    warnings: list[str] = field(default_factory=list)


class _Partial:
    """The side file of an unfinished run: plan, facts before, and every finished job's measurement."""

    SAVE_EVERY_S = 2.0  # a crash loses at most this much work; Ctrl-C loses nothing (saved on the way out)

    def __init__(self, path: Path, doc: dict[str, Any]):
        self.path, self.doc = path, doc
        self._saved = time.monotonic()

    @classmethod
    def start(cls, path: Path, plan: ProfilePlan, versions: dict[str, Any], archs: list[str]) -> _Partial:
        doc = {"schema": PARTIAL_SCHEMA, "hwdiff": __version__, "plan": plan.to_json(), "versions": versions,
               "archs": archs, "started": utc_timestamp(), "facts_before": local_facts(),
               "results": {}}
        return cls(path, doc)

    @classmethod
    def load(cls, path: Path) -> _Partial:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HwdiffError(f"the partial run {path} cannot be read ({exc}); pass --force to start over") from None
        if not isinstance(doc, dict) or doc.get("schema") != PARTIAL_SCHEMA:
            raise HwdiffError(f"{path} is not an hwdiff partial run; pass --force to start over")
        return cls(path, doc)

    def check_matches(self, plan: ProfilePlan, versions: dict[str, Any]) -> None:
        """Resume only a run of the same plan, hwdiff and backend versions: mixing would corrupt the figures."""
        saved = self.doc.get("plan", {})
        current = json.loads(json.dumps(plan.to_json()))
        changed = [f"{k}={saved.get(k)!r} (now {current[k]!r})" for k in current if saved.get(k) != current[k]]
        if self.doc.get("hwdiff") != __version__:
            changed.append(f"hwdiff {self.doc.get('hwdiff')} (now {__version__})")
        if self.doc.get("versions") != json.loads(json.dumps(versions)):
            changed.append(f"backend versions {self.doc.get('versions')} (now {versions})")
        before, now = machine_identity(self.doc.get("facts_before", {})), machine_identity(local_facts())
        if before != now:
            changed.append(f"machine {before} (now {now})")
        if changed:
            raise HwdiffError(f"the partial run in {self.path} was made with {'; '.join(changed)}; rerun with the "
                              "same options to resume it, or pass --force to start over")

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        return self.doc["results"]

    def record(self, job: Job, measurement: Measurement) -> None:
        self.results[job.id] = measurement.to_json(with_settings=False)
        if time.monotonic() - self._saved >= self.SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.doc, separators=(",", ":"), allow_nan=False))
        self._saved = time.monotonic()


@contextlib.contextmanager
def realtime_priority(enabled: bool) -> Iterator[None]:
    """Run the block under SCHED_FIFO (Linux; root or CAP_SYS_NICE), so other processes cannot preempt it.

    Threads started inside the block inherit the policy. The kernel's real-time throttling still
    leaves 5 % of each CPU to everyone else.
    """
    if not enabled:
        yield
        return
    if not hasattr(os, "sched_setscheduler"):
        raise HwdiffError("--realtime needs Linux (SCHED_FIFO); drop --realtime on this system")
    old_policy, old_param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except PermissionError:
        raise HwdiffError("--realtime needs permission for SCHED_FIFO (root, or `sudo setcap cap_sys_nice+ep "
                          f"{os.path.realpath(sys.executable)}`); run without --realtime") from None
    try:
        yield
    finally:
        os.sched_setscheduler(0, old_policy, old_param)


def run_profile(plan: ProfilePlan, out: Path | None = None, *, force: bool = False, resume: bool = False,
                realtime: bool = False, progress: Callable[[int, int, str], None] | None = None) -> RunReport:
    """Measure ``plan`` and write its profile; ``progress(done, total, label)`` after/before each job.

    ``plan``: a ``ProfilePlan`` (lut profile) or another ``MeasurementPlan`` with the same methods
    (``hardware/fewshot_run.py``'s ``FewShotPlan``: no layers, only networks).
    """
    target = profile_path(plan.filename, out)
    side = partial_path(target)
    claim_profile_path(target, force)
    if side.exists() and not resume and not force:
        raise HwdiffError(f"an unfinished run of this profile is in {side}; pass --resume to continue it or "
                          "--force to start over")
    backend = create_backend(plan.backend, BackendOptions(target=plan.target, precision=plan.precision,
                                                          threads=plan.threads, batch_size=plan.batch_size))
    versions = backend.versions()
    layers = plan.measured_layers()
    archs = plan.measured_archs()

    if resume and side.exists():
        partial = _Partial.load(side)
        partial.check_matches(plan, versions)
        archs = partial.doc["archs"]
    else:
        partial = _Partial.start(side, plan, versions, archs)
        partial.save()
    jobs = plan_jobs(plan, layers, archs)
    done_before = sum(job.id in partial.results for job in jobs)
    monitor = ThrottleMonitor(gpu_index=0 if plan.target == "cuda" else None)
    load_before = loadavg()
    started = time.perf_counter()
    with realtime_priority(realtime):
        try:
            time_jobs(plan, jobs, archs, backend, partial.record, done=partial.results, progress=progress,
                      poll=monitor.poll)
        finally:  # Ctrl-C or an error: keep every finished measurement for --resume
            partial.save()
    if progress:
        progress(len(jobs), len(jobs), "writing the profile")
    seconds = time.perf_counter() - started
    reasons = monitor.reasons()
    profile = plan.assemble(FinishedRun(partial, layers, archs, versions, reasons, load_before, realtime, seconds,
                                        resumed=done_before > 0))
    profile.save(target, force=True)
    side.unlink(missing_ok=True)
    results = [partial.results[job.id] for job in jobs]
    disturbed = sum(r["disturbed"] for r in results) / max(1, sum(r["repeats"] for r in results))
    warnings = [profile.provenance["context_unused"]] if "context_unused" in profile.provenance else []
    if disturbed > 0.2:
        load = f"load average {load_before[0]:.1f} on {os.cpu_count()} CPUs" if load_before else "busy machine"
        warnings.append(f"{disturbed:.0%} of the timed samples were interrupted by other processes ({load} when "
                        "the run started); stop other work, or use --realtime, and measure again for figures you "
                        "can trust")
    return RunReport(profile=profile, jobs=len(jobs), resumed_jobs=done_before, seconds=seconds,
                     throttle_reasons=reasons, disturbed_share=disturbed, warnings=warnings)


def time_jobs(plan: Any, jobs: list[Job], archs: list[str], backend: Any, record: Callable[[Job, Measurement], None],
              *, done: Container[str] = (), progress: Callable[[int, int, str], None] | None = None,
              poll: Callable[[], None] | None = None) -> None:
    """Time each job not ``done`` with ``plan``'s timing settings, in order; ``record(job, measurement)`` after each.

    Runners (sessions, engines) are built once and kept across rounds; ``plan`` is a ``ProfilePlan`` or
    any plan with its space, dataset, chain and timing fields (networks only: no ``layer_timing``).
    """
    input_shape = get_space(plan.space).dataset(plan.dataset).input_size
    runners = _RunnerCache()
    for n, job in enumerate(jobs):
        if job.id in done:
            continue
        if progress:
            progress(n, len(jobs), job.label)
        runner = runners.get(job.id.split("/", 1)[1], lambda job=job: _build(job, archs, plan), backend,
                             job.layer.input_shape if job.layer is not None else input_shape)
        timing = plan.network_timing if job.layer is None else plan.layer_timing
        record(job, measure_latency(runner, timing))
        if poll:
            poll()
    runners.clear()


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else []


def _build(job: Job, archs: list[str], plan: ProfilePlan) -> Any:
    """The module a job times: a layer, a chain of copies of it, or a whole network."""
    from torch import nn

    if job.layer is not None:
        build = job.layer.build
        return build() if job.copies == 1 else nn.Sequential(*(build() for _ in range(job.copies)))
    return get_space(plan.space).create_model(archs[job.network], plan.dataset)


class _RunnerCache:
    """Prepared runners, kept across rounds (rebuilding means re-exporting) up to a memory budget."""

    def __init__(self, budget_bytes: int = 2 * 2**30):
        self._runners: dict[str, Any] = {}
        self._left = budget_bytes

    def get(self, key: str, build: Callable[[], Any], backend: Any, input_shape: tuple[int, ...]) -> Any:
        if key in self._runners:
            return self._runners[key]
        module = build()
        size = sum(p.numel() * p.element_size() for p in module.parameters())
        runner = backend.prepare(module, input_shape)
        if size <= self._left:
            self._runners[key] = runner
            self._left -= size
        return runner

    def clear(self) -> None:
        self._runners.clear()


def median_of_rounds(results: dict[str, dict[str, Any]], plan: Any, job_suffix: str
                     ) -> tuple[float, list[dict[str, Any]]]:
    """The median over ``plan.rounds`` of one job's measurements (``results``: job id -> measurement JSON)."""
    rounds = [results[f"r{r}/{job_suffix}"] for r in range(plan.rounds)]
    return float(np.median([m["median_ms"] for m in rounds])), rounds


def _plain_entry(partial: _Partial, plan: ProfilePlan, layer: LutLayer) -> dict[str, Any]:
    single, single_rounds = median_of_rounds(partial.results, plan, f"layer/{layer.key}/x1")
    entry: dict[str, Any] = {"key": layer.key, "description": layer.description, "input_shape": list(layer.input_shape)}
    if layer.repeatable:
        chained, chain_rounds = median_of_rounds(partial.results, plan, f"layer/{layer.key}/x{plan.chain}")
        return entry | {"ms": max((chained - single) / (plan.chain - 1), 0.0), "method": f"chain x{plan.chain} - x1",
                        "alone_ms": single, "chain_ms": chained,
                        "rounds": {"x1": single_rounds, f"x{plan.chain}": chain_rounds}}
    return entry | {"ms": single, "method": "alone", "rounds": {"x1": single_rounds}}


def _context_entries(partial: _Partial, plan: ProfilePlan, layers: list[LutLayer],
                     plain: dict[str, float]) -> list[dict[str, Any]]:
    """Interaction of each block (chain per copy minus its parts), minus its reference's; may be negative."""
    interaction, out = {}, []
    for layer in layers:
        chained, rounds = median_of_rounds(partial.results, plan, f"layer/{layer.key}/x{plan.chain}")
        interaction[layer.key] = chained / plan.chain - sum(plain[key] * n for key, n in layer.parts)
        out.append({"key": layer.key, "description": layer.description, "input_shape": list(layer.input_shape),
                    "method": f"context: chain x{plan.chain} per copy - parts - reference", "chain_ms": chained,
                    "parts": [list(p) for p in layer.parts], "reference": layer.reference,
                    "interaction_ms": interaction[layer.key], "rounds": {f"x{plan.chain}": rounds}})
    for entry in out:
        entry["ms"] = entry["interaction_ms"] - interaction[entry["reference"]]
    return out


def _assemble(plan: ProfilePlan, run: FinishedRun) -> LutProfile:
    partial, layers, archs = run.partial, run.layers, run.archs
    entries = [_plain_entry(partial, plan, layer) for layer in layers if not layer.is_context]
    entries += _context_entries(partial, plan, [layer for layer in layers if layer.is_context],
                                {e["key"]: e["ms"] for e in entries})

    space = get_space(plan.space)

    def lut(context: bool) -> LutProfile:
        return LutProfile(
            layers=entries, calibration={"form": "scale * lut_sum + offset", "scale": 1.0, "offset_ms": 0.0,
                                         "fitted_on": 0}, context=context,
            device=plan.device, space=plan.space, dataset=plan.dataset, provenance={}, validation=None)

    profile = lut(plan.context)
    unresolved = _unresolved_context(profile, archs) if plan.context else None
    if unresolved:
        profile = lut(False)
    networks, validation = [], None
    if archs:
        measured = np.array([median_of_rounds(partial.results, plan, f"net/{i}")[0] for i in range(len(archs))])
        sums = profile.layer_sums(archs)
        fit = len(archs) // 2
        scale, offset = fit_calibration(sums[:fit], measured[:fit])
        profile.calibration.update(scale=scale, offset_ms=offset, fitted_on=fit)
        predicted = profile.predict(archs)
        validation = {"networks": len(archs), "fit": fit, "held_out": len(archs) - fit,
                      **validation_metrics(predicted[fit:], measured[fit:]),
                      "uncalibrated_mape": validation_metrics(sums[fit:], measured[fit:])["mape"],
                      "method": f"affine calibration fitted on {fit} random networks, errors on the other "
                                f"{len(archs) - fit}"}
        for i, arch in enumerate(archs):
            _, rounds = median_of_rounds(partial.results, plan, f"net/{i}")
            networks.append({"arch": space.canonical(arch), "measured_ms": float(measured[i]),
                             "lut_sum_ms": float(sums[i]), "predicted_ms": float(predicted[i]),
                             "split": "fit" if i < fit else "held-out", "rounds": rounds})
    profile.networks = networks
    profile.validation = validation
    profile.provenance = run_provenance(plan, run) | ({"context_unused": unresolved} if unresolved else {})
    return profile


def _unresolved_context(profile: LutProfile, archs: list[str]) -> str | None:
    """Why the context entries cannot be used, or None: a network they make sum to no time at all.

    Context entries are differences of noisy chain timings and may be negative; when timing too short
    to resolve them drives a network's sum to zero or below, they are noise, and the profile predicts
    from its layers alone (calibrated on the measured networks, so its stated error stays honest).
    """
    candidates = list(archs) + (get_space(profile.space).enumerate() or [])
    sums = profile.layer_sums(candidates)
    worst = int(np.argmin(sums))
    if sums[worst] > 0:
        return None
    return (f"the context entries were not used: with them {candidates[worst]} sums to {sums[worst]:.3g} ms, so "
            "this run's timing did not resolve them; measure again with longer timing (or a quieter machine) "
            "to use them")


def run_provenance(plan: ProfilePlan, run: FinishedRun) -> dict[str, Any]:
    """What a measured profile records of its run: the device's identity (backend, precision, batch, threads,
    software versions, the machine's facts before and after, Jetson power mode and clocks among them) and
    how the run went."""
    return {
        "source": f"measured by hwdiff profile ({plan.backend}, {plan.target})",
        "created": utc_timestamp(),
        "started": run.partial.doc["started"],
        "hwdiff": __version__,
        "backend": plan.backend,
        "target": plan.target,
        "precision": plan.precision,
        "batch_size": plan.batch_size,
        "threads": plan.threads,
        "versions": run.versions,
        "plan": plan.to_json(),
        "realtime_priority": run.realtime,
        "resumed": run.resumed,
        "duration_s": round(run.seconds, 1),
        "load_average": {"before": run.load_before, "after": loadavg()},
        "throttle_reasons": run.throttle_reasons,
        "facts_before": run.partial.doc["facts_before"],
        "facts_after": local_facts(),
        **({"device_override": plan.device_override} if plan.device_override else {}),
    }
