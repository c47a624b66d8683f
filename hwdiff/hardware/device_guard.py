"""Is this machine the device a spec describes? Asked before anything is measured and stored under its name.

A profile (or a verification) is measured on the machine that runs hwdiff, locally or on the board
behind ``--remote`` (where the board's own hwdiff asks). The machine is the device when:

* ``cpu`` specs: always, unless the spec names a ``machine``;
* ``server-gpu`` specs: PyTorch sees a CUDA GPU;
* ``edge-gpu`` specs (Jetson boards): the machine is a Jetson (``/etc/nv_tegra_release``) with a CUDA GPU;
* a spec with ``machine = "WORDS"`` (every shipped device measured by someone else has one): besides
  the above, the words appear, in order and as whole words, in the name of the hardware that would
  be measured: the CPU model (``/proc/cpuinfo``) or board model (``/proc/device-tree/model``) for
  ``cpu`` specs; the GPU's name or the board model for GPU specs. Case, "(R)", "(TM)" and punctuation
  do not count: ``Gold 6226`` matches "Intel(R) Xeon(R) Gold 6226 CPU @ 2.70GHz", ``TITAN X``
  matches "NVIDIA TITAN X (Pascal)" but not "NVIDIA TITAN Xp".

``mobile`` and ``accelerator`` devices never run hwdiff's networks (their figures are imported).
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path

from hwdiff.hardware.devices import DeviceSpec
from hwdiff.hardware.facts import cpu_facts, is_jetson, jetson_facts

GPU_KINDS = ("server-gpu", "edge-gpu")


@dataclass(frozen=True)
class Machine:
    """What the guard needs to know of the machine that would measure: its names and whether it has a GPU."""

    host: str
    cpu_model: str
    board_model: str | None  # /proc/device-tree/model (Jetson, Raspberry Pi), None elsewhere
    jetson: bool
    gpu: str | None  # the CUDA GPU a measurement would use, None where PyTorch sees none

    @classmethod
    def here(cls, with_gpu: bool = True, root: Path = Path("/")) -> Machine:
        """This machine; ``with_gpu=False`` skips asking PyTorch (a CPU spec needs no GPU, nor torch's import)."""
        jetson = jetson_facts(root)
        board = jetson["model"] if isinstance(jetson["model"], str) else None
        return cls(host=platform.node(), cpu_model=str(cpu_facts(root)["model"]), board_model=board,
                   jetson=is_jetson(jetson), gpu=_cuda_gpu() if with_gpu else None)


def _cuda_gpu() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", re.sub(r"\((r|tm)\)", " ", text.lower()))


def names_match(wanted: str, name: str) -> bool:
    """``wanted``'s words appear in ``name`` in order, side by side and whole."""
    want, have = _words(wanted), _words(name)
    return bool(want) and any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))


def machine_mismatch(spec: DeviceSpec, machine: Machine | None = None) -> str | None:
    """Why ``machine`` (default: this one) is not the device ``spec`` describes, in one phrase; None when it is.

    For a ``cpu``, ``server-gpu`` or ``edge-gpu`` spec (``mobile`` and ``accelerator`` ones are never
    measured by hwdiff).
    """
    gpu_kind = spec.kind in GPU_KINDS
    machine = machine or Machine.here(with_gpu=gpu_kind)
    where = f"this machine ({machine.host})"
    if spec.kind == "edge-gpu" and not machine.jetson:
        return (f"device {spec.name} ({spec.description}) is a Jetson board, and {where} is not one (no "
                "/etc/nv_tegra_release)")
    if gpu_kind and machine.gpu is None:
        return f"device {spec.name} is a {spec.kind} device, and no CUDA GPU is visible to PyTorch on {where}"
    if not spec.machine:
        return None
    names = [machine.gpu] if gpu_kind else [machine.cpu_model]
    names += [machine.board_model] if machine.board_model else []
    if any(names_match(spec.machine, name) for name in names if name):
        return None
    hardware = f"GPU is {machine.gpu!r}" if gpu_kind else f"CPU is {machine.cpu_model!r}"
    board = f" (board {machine.board_model!r})" if machine.board_model else ""
    return (f"device {spec.name} ({spec.description}; its spec's machine = {spec.machine!r}) is not {where}, "
            f"whose {hardware}{board}")
