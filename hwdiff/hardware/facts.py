"""Facts about the machine a measurement runs on: CPU, NVIDIA GPUs, Jetson boards, software.

Everything here is read, never changed. A source that is absent (no NVIDIA driver, not a Jetson,
a tool not installed, a file not readable) is reported as ``{"missing": "why"}``, never raised:
the facts describe the machine, whatever it is. Profiles store them before and after a run.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hwdiff.storage import utc_timestamp

# NVML clock-event ("throttle") reason bits; the ones that do not slow a benchmark are left out of reports.
NVML_REASONS = {
    0x1: "GPU idle", 0x2: "applications clocks setting", 0x4: "software power cap", 0x8: "hardware slowdown",
    0x10: "sync boost", 0x20: "software thermal slowdown", 0x40: "hardware thermal slowdown",
    0x80: "hardware power brake slowdown", 0x100: "display clock setting",
}
BENIGN_NVML_REASONS = 0x1 | 0x2 | 0x100


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip("\x00\n ")
    except OSError:
        return None


def _missing(why: str) -> dict[str, str]:
    return {"missing": why}


def _run_tool(argv: list[str], timeout: float = 10.0) -> dict[str, Any]:
    """Output of a command-line tool, or why there is none."""
    if shutil.which(argv[0]) is None:
        return _missing(f"`{argv[0]}` not found on PATH")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _missing(f"`{' '.join(argv)}` failed: {exc}")
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        return _missing(f"`{' '.join(argv)}` exited {done.returncode}: {err[-1] if err else 'no output'}")
    return {"output": done.stdout.strip()}


# -- CPU ------------------------------------------------------------------------------------------
def _cpuinfo(root: Path) -> list[dict[str, str]]:
    text = _read(root / "proc/cpuinfo") or ""
    blocks = []
    for block in text.split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def physical_cores(root: Path = Path("/")) -> int:
    """Physical cores this process may use (hyper-threads not counted)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    blocks = _cpuinfo(root)
    cores = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    logical = len(blocks) or (os.cpu_count() or 1)
    per_core = max(1, logical // len(cores)) if cores else 1
    return max(1, usable // per_core)


def cpu_throttle_counts(root: Path = Path("/")) -> dict[str, int]:
    """Linux thermal-throttle event counters (Intel); empty where the kernel exposes none."""
    counts = {}
    for path in sorted((root / "sys/devices/system/cpu").glob("cpu[0-9]*/thermal_throttle/*_throttle_count")):
        value = _read(path)
        if value and value.isdigit():
            counts[f"{path.parent.parent.name}/{path.name}"] = int(value)
    return counts


def cpu_facts(root: Path = Path("/")) -> dict[str, Any]:
    blocks = _cpuinfo(root)
    first = blocks[0] if blocks else {}
    cpufreq = root / "sys/devices/system/cpu/cpu0/cpufreq"
    governor = _read(cpufreq / "scaling_governor")
    files = {"current_mhz": "scaling_cur_freq", "min_mhz": "cpuinfo_min_freq", "max_mhz": "cpuinfo_max_freq"}
    freq = {name: int(v) // 1000 for name, f in files.items() if (v := _read(cpufreq / f)) and v.isdigit()}
    meminfo = _read(root / "proc/meminfo") or ""
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    throttle = cpu_throttle_counts(root)
    return {
        "model": first.get("model name") or platform.processor() or platform.machine(),
        "architecture": platform.machine(),
        "logical_cpus": len(blocks) or os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "physical_cores": physical_cores(root),
        "virtual_machine": "hypervisor" in first.get("flags", "").split(),
        "governor": governor or _missing("no cpufreq governor in /sys (common in virtual machines)"),
        "frequency": freq or _missing("no cpufreq frequencies in /sys"),
        "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "thermal_throttle_counts": throttle or _missing("no thermal_throttle counters in /sys (AMD, VMs)"),
    }


# -- NVIDIA GPUs ----------------------------------------------------------------------------------
def _nvml_reasons(nvml: Any, handle: Any) -> int:
    getter = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    return int(getter(handle))


def decode_nvml_reasons(mask: int, include_benign: bool = False) -> list[str]:
    return [name for bit, name in NVML_REASONS.items()
            if mask & bit and (include_benign or not bit & BENIGN_NVML_REASONS)]


def _nvml_gpu(nvml: Any, index: int) -> dict[str, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)

    def get(fn: str, *args: Any) -> Any:
        try:
            value = getattr(nvml, fn)(handle, *args)
        except Exception as exc:  # NVML raises per unsupported query; record it and go on
            return _missing(f"{fn}: {exc}")
        return value.decode() if isinstance(value, bytes) else value

    memory = get("nvmlDeviceGetMemoryInfo")
    power = get("nvmlDeviceGetEnforcedPowerLimit")
    try:
        reasons: Any = decode_nvml_reasons(_nvml_reasons(nvml, handle), include_benign=True)
    except Exception as exc:
        reasons = _missing(f"clock event reasons: {exc}")
    return {
        "index": index,
        "name": get("nvmlDeviceGetName"),
        "memory_total_mib": memory.total // 2**20 if hasattr(memory, "total") else memory,
        "memory_used_mib": memory.used // 2**20 if hasattr(memory, "used") else memory,
        "sm_clock_mhz": get("nvmlDeviceGetClockInfo", nvml.NVML_CLOCK_SM),
        "memory_clock_mhz": get("nvmlDeviceGetClockInfo", nvml.NVML_CLOCK_MEM),
        "max_sm_clock_mhz": get("nvmlDeviceGetMaxClockInfo", nvml.NVML_CLOCK_SM),
        "power_limit_w": power / 1000 if isinstance(power, (int, float)) else power,
        "power_draw_w": (p / 1000 if isinstance(p := get("nvmlDeviceGetPowerUsage"), (int, float)) else p),
        "temperature_c": get("nvmlDeviceGetTemperature", nvml.NVML_TEMPERATURE_GPU),
        "performance_state": get("nvmlDeviceGetPerformanceState"),
        "throttle_reasons": reasons,
    }


def nvidia_facts() -> dict[str, Any]:
    """Driver, CUDA driver version and per-GPU state from NVML (nvidia-ml-py, imported as ``pynvml``)."""
    try:
        import pynvml as nvml
    except ImportError:
        return _missing("nvidia-ml-py is not installed (`pip install nvidia-ml-py`)")
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return _missing(f"NVML not available, so no NVIDIA driver here ({exc})")
    try:
        driver = nvml.nvmlSystemGetDriverVersion()
        cuda = nvml.nvmlSystemGetCudaDriverVersion()
        return {
            "driver": driver.decode() if isinstance(driver, bytes) else driver,
            "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
            "gpus": [_nvml_gpu(nvml, i) for i in range(nvml.nvmlDeviceGetCount())],
        }
    finally:
        nvml.nvmlShutdown()


def gpu_throttle_mask(index: int = 0) -> int | None:
    """Current NVML clock-event reasons of one GPU as a bit mask, ``None`` where NVML is unavailable."""
    try:
        import pynvml as nvml

        nvml.nvmlInit()
    except Exception:
        return None
    try:
        return _nvml_reasons(nvml, nvml.nvmlDeviceGetHandleByIndex(index))
    except Exception:
        return None
    finally:
        nvml.nvmlShutdown()


# -- Jetson ---------------------------------------------------------------------------------------
def jetson_facts(root: Path = Path("/")) -> dict[str, Any]:
    """L4T release, board model, power mode and clocks, each from the board's own file or tool."""
    release = _read(root / "etc/nv_tegra_release")
    model = _read(root / "proc/device-tree/model")
    return {
        "l4t_release": release.splitlines()[0] if release else _missing("/etc/nv_tegra_release not found"),
        "model": model or _missing("/proc/device-tree/model not found"),
        "nvpmodel": _run_tool(["nvpmodel", "-q"]),
        "jetson_clocks": _run_tool(["jetson_clocks", "--show"]),
    }


def is_jetson(facts: dict[str, Any]) -> bool:
    return isinstance(facts.get("l4t_release"), str)


# -- software -------------------------------------------------------------------------------------
def software_facts() -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda or "CPU-only build",
        "cuda_available": torch.cuda.is_available(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        out["cudnn"] = torch.backends.cudnn.version()
    try:
        import onnxruntime as ort

        out["onnxruntime"] = ort.__version__
        out["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        out["onnxruntime"] = _missing("not installed (`pip install onnxruntime`)")
    try:
        import tensorrt

        out["tensorrt"] = tensorrt.__version__
    except ImportError:
        out["tensorrt"] = _missing("not installed (`pip install hwdiff[trt]`, or JetPack's python3-libnvinfer)")
    return out


STACK_SOFTWARE = ("python", "torch", "torch_cuda_build", "cudnn", "onnxruntime", "tensorrt")


def software_stack(facts: dict[str, Any]) -> dict[str, str]:
    """The versions in a facts record that decide latencies besides the hardware: Python, PyTorch and its
    CUDA build, cuDNN, ONNX Runtime, TensorRT, the NVIDIA driver, the L4T release ("none": not there)."""
    software = facts.get("software", {})
    stack = {key: str(software[key]) if isinstance(software.get(key), (str, int)) else "none"
             for key in STACK_SOFTWARE}
    driver, l4t = facts.get("nvidia", {}).get("driver"), facts.get("jetson", {}).get("l4t_release")
    stack["nvidia_driver"] = driver if isinstance(driver, str) else "none"
    stack["l4t_release"] = l4t if isinstance(l4t, str) else "none"
    return stack


def local_stack_changes(provenance: dict[str, Any], root: Path = Path("/")) -> list[str]:
    """How this machine's software stack differs from the one a profile was measured with here.

    Empty for a profile measured elsewhere (on a board over ``--remote``, on another host) or not
    measured at all (shipped, imported): only a local profile's stack can be compared with ours.
    """
    before = provenance.get("facts_before")
    if not isinstance(before, dict) or provenance.get("remote") or before.get("host") != platform.node():
        return []
    was = software_stack(before)
    now = software_stack({"software": software_facts(), "nvidia": nvidia_facts(), "jetson": jetson_facts(root)})
    return [f"{key} {was[key]} (now {now[key]})" for key in was if was[key] != now[key]]


def machine_identity(facts: dict[str, Any]) -> list[Any]:
    """What identifies the hardware in a facts record: CPU model and GPU names (what ``--resume`` and
    ``search --verify`` compare)."""
    gpus = facts.get("nvidia", {}).get("gpus", [])
    return [facts.get("cpu", {}).get("model"), [g.get("name") for g in gpus]]


def local_facts(root: Path = Path("/")) -> dict[str, Any]:
    """Everything above, with the time it was read."""
    return {
        "collected": utc_timestamp(),
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": cpu_facts(root),
        "nvidia": nvidia_facts(),
        "jetson": jetson_facts(root),
        "software": software_facts(),
    }


class ThrottleMonitor:
    """Collects the throttling seen during a run: NVML reasons polled per GPU, CPU throttle counters."""

    def __init__(self, gpu_index: int | None = None, root: Path = Path("/")):
        self._gpu, self._root = gpu_index, root
        self._cpu_start = cpu_throttle_counts(root)
        self._mask = 0

    def poll(self) -> None:
        if self._gpu is not None:
            self._mask |= gpu_throttle_mask(self._gpu) or 0

    def reasons(self) -> list[str]:
        """What slowed the device during the run, one phrase each (empty when nothing did)."""
        self.poll()
        seen = decode_nvml_reasons(self._mask)
        end = cpu_throttle_counts(self._root)
        grew = sorted(k for k, v in end.items() if v > self._cpu_start.get(k, v))
        if grew:
            seen.append(f"CPU thermal throttling ({len(grew)} counter(s) rose: {', '.join(grew[:4])})")
        return seen
