"""Latency measurement a performance engineer can accept.

``measure_latency(runner, settings) -> Measurement``:

* warm-up by count *and* time (both minimums must be met), so caches, allocators, autotuners and
  clocks settle before anything is kept;
* each timed sample runs the workload ``calls`` times back to back, ``calls`` chosen during warm-up
  so that one sample lasts at least ``min_sample_s`` (the clock's own cost then vanishes);
* samples are taken until the median is known to within ``target_ci`` (half-width of its 95 %
  confidence interval, from order statistics, relative to the median), or ``max_time_s`` /
  ``max_repeats`` is hit; at least ``min_repeats`` are always taken;
* on CUDA the time comes from CUDA events recorded on the runner's stream (GPU time, no host
  jitter); elsewhere from ``time.perf_counter_ns`` around a synchronised run;
* Python's garbage collector is off while timing (as ``timeit`` does): eager frameworks allocate
  Python objects per operator, and a collection would land inside some samples;
* a sample during which the OS preempted the process (an involuntary context switch, from
  ``getrusage``) is *disturbed*: it holds time spent running someone else. Statistics use the
  undisturbed samples when at least ``min_repeats`` of them exist, else all samples (and say so);
* the result is the median with quartiles (IQR), and carries what actually happened (warm-up
  runs, samples, disturbed samples, calls per sample, why it stopped) and the settings.

The thread count is the runner's business (backends fix it when they prepare); the measurement
records it.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from hwdiff.errors import HwdiffError

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None


class Runner(Protocol):
    """One prepared inference: fixed weights and inputs, ready to be called again and again."""

    timer: str  # "perf_counter" or "cuda-events"

    def __call__(self) -> None:
        """Run (or, on a GPU, enqueue) one inference."""

    def synchronize(self) -> None:
        """Wait until everything enqueued has finished."""

    @property
    def cuda_stream(self) -> Any:
        """The ``torch.cuda.Stream`` the runner enqueues on, or ``None`` for host-timed runners."""


@dataclass(frozen=True)
class TimingSettings:
    """How long and how often to run; stored beside every figure."""

    warmup_runs: int = 10
    warmup_s: float = 0.2
    min_repeats: int = 15
    max_repeats: int = 1000
    target_ci: float = 0.01
    max_time_s: float = 3.0
    min_sample_s: float = 0.001

    def __post_init__(self) -> None:
        checks = {
            "warmup_runs": self.warmup_runs >= 0, "warmup_s": self.warmup_s >= 0,
            "min_repeats": self.min_repeats >= 3, "max_repeats": self.max_repeats >= self.min_repeats,
            "target_ci": 0 < self.target_ci < 1, "max_time_s": self.max_time_s > 0,
            "min_sample_s": self.min_sample_s >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise HwdiffError(f"timing settings: invalid {', '.join(bad)} ({self}); need warmup >= 0, "
                              "3 <= min_repeats <= max_repeats, 0 < target_ci < 1, max_time_s > 0")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TimingSettings:
        return cls(**doc)


@dataclass(frozen=True)
class Measurement:
    """Latency of one workload: median and quartiles of per-call times, in milliseconds."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    ci95_rel: float  # half-width of the median's 95 % confidence interval / median
    repeats: int  # timed samples
    disturbed: int  # samples during which the process was preempted
    samples_used: str  # "undisturbed" or "all" (too few undisturbed ones)
    calls: int  # calls per sample
    warmup_runs: int
    warmup_s: float
    stop: str  # "converged", "time cap" or "max repeats"
    timer: str
    settings: TimingSettings = field(compare=False)

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    def to_json(self, with_settings: bool = True) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if k != "settings"}
        doc = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in doc.items()}
        if with_settings:
            doc["settings"] = self.settings.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], settings: TimingSettings | None = None) -> Measurement:
        fields = {k: v for k, v in doc.items() if k != "settings"}
        own = TimingSettings.from_json(doc["settings"]) if "settings" in doc else settings
        if own is None:
            raise ValueError("measurement without timing settings")
        return cls(**fields, settings=own)


def median_ci95(sorted_samples: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95 % confidence interval of the median (binomial order statistics)."""
    n = len(sorted_samples)
    half = 1.96 * math.sqrt(n) / 2
    lo = max(int(math.floor(n / 2 - half)), 0)
    hi = min(int(math.ceil(n / 2 + half)), n - 1)
    return float(sorted_samples[lo]), float(sorted_samples[hi])


def _ci_rel(sorted_samples: np.ndarray) -> float:
    lo, hi = median_ci95(sorted_samples)
    median = float(np.median(sorted_samples))
    return (hi - lo) / 2 / median if median > 0 else math.inf


def _preemptions() -> int:
    """Involuntary context switches of this process so far (0 where the OS does not say)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw if resource is not None else 0


def _sample_clock(runner: Runner) -> Callable[[int], tuple[float, bool]]:
    """A function that runs ``calls`` back to back: (elapsed seconds, was the process preempted)."""
    stream = runner.cuda_stream if runner.timer == "cuda-events" else None
    if stream is not None:
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def timed(calls: int) -> tuple[float, bool]:
            before = _preemptions()
            start.record(stream)
            for _ in range(calls):
                runner()
            end.record(stream)
            end.synchronize()
            return start.elapsed_time(end) / 1e3, _preemptions() > before

        return timed

    def timed(calls: int) -> tuple[float, bool]:
        runner.synchronize()
        before = _preemptions()
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            runner()
        runner.synchronize()
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        return elapsed, _preemptions() > before

    return timed


def measure_latency(runner: Runner, settings: TimingSettings | None = None) -> Measurement:
    """Warm up ``runner``, time it until the median is stable or a cap is hit, and summarise."""
    settings = settings or TimingSettings()
    collecting = gc.isenabled()
    gc.disable()  # no gc.collect() first: a full collection of a torch process costs far more than a run
    try:
        return _measure(runner, settings)
    finally:
        if collecting:
            gc.enable()


def _measure(runner: Runner, settings: TimingSettings) -> Measurement:
    timed = _sample_clock(runner)

    # Warm-up: at least warmup_runs calls and warmup_s seconds; learn how long one call takes.
    warm_start = time.perf_counter()
    runs, per_call = 0, math.inf  # per_call: the fastest batch's (interruptions only ever add time)
    while runs < max(settings.warmup_runs, 1) or time.perf_counter() - warm_start < settings.warmup_s:
        # Batches double (less clock overhead) but stay short next to the warm-up time.
        budget = int(settings.warmup_s / 10 / per_call) if 0 < per_call < math.inf else 1
        batch = max(1, min(64, runs, budget))
        per_call = min(per_call, timed(batch)[0] / batch)
        runs += batch
    warmup_s = time.perf_counter() - warm_start
    calls = max(1, math.ceil(settings.min_sample_s / per_call)) if per_call > 0 else 1

    clean: list[float] = []
    disturbed: list[float] = []
    stop = "max repeats"
    start = time.perf_counter()
    while len(clean) + len(disturbed) < settings.max_repeats:
        elapsed, preempted = timed(calls)
        (disturbed if preempted else clean).append(elapsed / calls)
        n = len(clean)
        if n >= settings.min_repeats and (n < 64 or n % 8 == 0) and _ci_rel(np.sort(clean)) <= settings.target_ci:
            stop = "converged"
            break
        if len(clean) + len(disturbed) >= settings.min_repeats and time.perf_counter() - start >= settings.max_time_s:
            stop = "time cap"
            break
    used = "undisturbed" if len(clean) >= settings.min_repeats else "all"
    arr = np.sort(np.asarray(clean if used == "undisturbed" else clean + disturbed)) * 1e3
    q1, median, q3 = np.percentile(arr, [25, 50, 75])
    return Measurement(
        median_ms=float(median), q1_ms=float(q1), q3_ms=float(q3), min_ms=float(arr[0]),
        ci95_rel=min(_ci_rel(arr), 1.0), repeats=len(clean) + len(disturbed), disturbed=len(disturbed),
        samples_used=used, calls=calls, warmup_runs=runs, warmup_s=warmup_s, stop=stop, timer=runner.timer,
        settings=settings,
    )
