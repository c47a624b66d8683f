"""The one TensorRT builder: engines from ONNX, for ``hwdiff export --format trt`` and the profiling backend.

The ``tensorrt`` Python API where it is installed, else ``trtexec`` (Jetson; export only: timing
needs the Python API).

Precision across TensorRT versions:

* TensorRT 8.x-10.x build *weakly typed* networks: the ONNX model stays fp32 and
  ``BuilderFlag.FP16`` (``trtexec --fp16``) lets the builder pick fp16 kernels;
* TensorRT 11 builds *strongly typed* networks only (no FP16 flag): precision is what the ONNX
  model's tensors say, so an fp16 engine needs an fp16 ONNX model (``hwdiff export`` writes one)
  and the network is created with ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``
  (``trtexec --stronglyTyped``).

The choice is made from what the installed TensorRT offers (the FP16 flag's presence), not from
its version string alone. Nothing here runs on a machine without TensorRT; the tests drive it with
stand-ins of both APIs.

**Test stand-in.** ``find_builder`` returns the TensorRT a machine has; where it has none and
``$HWDIFF_TRT_STANDIN=onnxruntime`` is set there, ONNX Runtime stands in: the "engine" is ONNX
Runtime's optimised model (``SessionOptions.optimized_model_filepath``), run by ONNX Runtime, and
every sidecar says ``standin``. It lets the whole build-check-measure flow (the remote one over
ssh included) run on machines without a GPU; such a file is never loaded as a TensorRT engine.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwdiff.errors import HwdiffError
from hwdiff.storage import atomic_path

TRTEXEC_PATHS = ("/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")
INSTALL_HINT = ("install it with `pip install 'hwdiff[trt]'` (x86-64 Linux/Windows with an NVIDIA GPU) or, on Jetson, "
                "use JetPack's (python3-libnvinfer, or trtexec in /usr/src/tensorrt/bin)")
if TYPE_CHECKING:
    import numpy as np

WORKSPACE_BYTES = 1 << 30
STANDIN_ENV = "HWDIFF_TRT_STANDIN"
STANDIN_KINDS = ("onnxruntime",)


class TensorRTMissing(HwdiffError):
    """Neither the ``tensorrt`` module nor ``trtexec`` exists here; the ONNX model was written anyway."""

    def __init__(self, onnx_path: Path):
        self.onnx_path = onnx_path
        super().__init__(f"TensorRT is missing: wrote the ONNX model {onnx_path} but no engine; {INSTALL_HINT}, "
                         "then run this again (or build on the target with trtexec --onnx=...)")


@dataclass(frozen=True)
class TensorRT:
    """An installed TensorRT: the Python module, or the ``trtexec`` binary at ``trtexec``."""

    kind: str  # "python" | "trtexec"
    version: str
    strongly_typed: bool  # True when the builder has no FP16 flag (TensorRT 11+)
    trtexec: str | None = None


def _trtexec_version(binary: str) -> tuple[int, int, str]:
    """(major, minor, text) from trtexec's banner, e.g. ``[TensorRT v100500]`` (10.5) or ``[TensorRT v8601]`` (8.6)."""
    try:
        proc = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HwdiffError(f"trtexec at {binary} does not run ({exc}); fix or remove it") from None
    match = re.search(r"TensorRT v(\d+)", proc.stdout + proc.stderr)
    if not match:
        raise HwdiffError(f"trtexec at {binary} printed no TensorRT version; is it TensorRT's trtexec?")
    code = int(match.group(1))
    major, minor = (code // 10000, code // 100 % 100) if code >= 100000 else (code // 1000, code // 100 % 10)
    return major, minor, f"{major}.{minor}"


def find_tensorrt() -> TensorRT | None:
    """The TensorRT this machine has (the Python API first), or ``None``."""
    try:
        import tensorrt as trt
    except ImportError:
        trt = None
    if trt is not None:
        return TensorRT("python", trt.__version__, strongly_typed=strongly_typed(trt))
    binary = shutil.which("trtexec") or next((p for p in TRTEXEC_PATHS if Path(p).is_file()), None)
    if binary is None:
        return None
    major, _, text = _trtexec_version(binary)
    return TensorRT("trtexec", text, strongly_typed=major >= 11, trtexec=binary)


@dataclass(frozen=True)
class StandIn:
    """ONNX Runtime standing in for TensorRT (``$HWDIFF_TRT_STANDIN=onnxruntime``): tests without a GPU."""

    kind: str = "standin"
    version: str = ""  # ONNX Runtime's
    strongly_typed: bool = False
    trtexec: None = None


def find_builder() -> TensorRT | StandIn | None:
    """What builds engines here: TensorRT (``find_tensorrt``), else the stand-in where asked for, else ``None``."""
    tensorrt = find_tensorrt()
    if tensorrt is not None:
        return tensorrt
    wanted = os.environ.get(STANDIN_ENV)
    if not wanted:
        return None
    if wanted not in STANDIN_KINDS:
        raise HwdiffError(f"${STANDIN_ENV}={wanted!r}; accepted: {', '.join(STANDIN_KINDS)} (or unset it)")
    import onnxruntime as ort

    return StandIn(version=ort.__version__)


def board_builder() -> dict[str, Any]:
    """Runs on the board (the ``--remote`` check): ``{"engine": what builds engines there, or None}``, or an error."""
    try:
        builder = find_builder()
    except HwdiffError as exc:
        return {"error": str(exc)}
    if builder is None:
        return {"engine": None}
    return {"engine": {"kind": builder.kind, "version": builder.version, "strongly_typed": builder.strongly_typed}}


def machine_facts(builder: TensorRT | StandIn | None) -> dict[str, Any]:
    """Where an engine is built or loaded: host, GPU and TensorRT (or the stand-in) -- what an engine depends on."""
    return {"host": platform.node(), "gpu": gpu_name(),
            "tensorrt": builder.version if isinstance(builder, TensorRT) else None,
            "standin": f"onnxruntime {builder.version}" if isinstance(builder, StandIn) else None}


def same_version(built: str, here: str) -> bool:
    """``10.5`` (trtexec's banner) and ``10.5.0.18`` (the module's) are one version: compare the common parts."""
    a, b = built.split("."), here.split(".")
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _shape(batch: int, input_size: tuple[int, ...]) -> tuple[int, ...]:
    return (batch, *input_size)


def build_engine(tensorrt: TensorRT, onnx_path: Path, engine_path: Path, precision: str, *, batch: int,
                 dynamic_batch: bool, input_size: tuple[int, ...], max_batch: int) -> dict[str, Any]:
    """Build and write the engine atomically; return what the sidecar records about the build."""
    with atomic_path(engine_path) as tmp:
        if tensorrt.kind == "python":
            shapes = (_shape(1, input_size), _shape(batch, input_size), _shape(max_batch, input_size))
            tmp.write_bytes(build_serialized(onnx_path, precision, dynamic=shapes if dynamic_batch else None))
        else:
            _build_trtexec(tensorrt, onnx_path, tmp, precision, batch, dynamic_batch, input_size, max_batch)
    return {"builder": "tensorrt python API" if tensorrt.kind == "python" else f"trtexec ({tensorrt.trtexec})",
            "tensorrt": tensorrt.version, "strongly_typed": tensorrt.strongly_typed,
            "fp16_flag": precision == "fp16" and not tensorrt.strongly_typed,
            "profile": {"min": _shape(1, input_size), "opt": _shape(batch, input_size),
                        "max": _shape(max_batch, input_size)} if dynamic_batch else None,
            "gpu": gpu_name()}


def build_standin(onnx_path: Path, engine_path: Path) -> dict[str, Any]:
    """The stand-in's "engine": ONNX Runtime's optimised model, written atomically; its build record."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # portable kernels only
    options.log_severity_level = 3
    with atomic_path(engine_path) as tmp:
        options.optimized_model_filepath = str(tmp)
        ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return {"builder": f"onnxruntime {ort.__version__} stand-in (${STANDIN_ENV})", "tensorrt": None,
            "strongly_typed": False, "fp16_flag": False, "profile": None, "gpu": gpu_name()}


def gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except RuntimeError:
        return None


def strongly_typed(trt: Any) -> bool:
    """TensorRT 11+ has no FP16 builder flag: precision comes from the ONNX model's own tensors."""
    return not hasattr(trt.BuilderFlag, "FP16")


def onnx_precision(precision: str, strongly_typed: bool) -> str:
    """The precision the ONNX model must have for an engine of ``precision`` (fp16 only when strongly typed)."""
    return "fp16" if precision == "fp16" and strongly_typed else "fp32"


def build_serialized(onnx_path: Path, precision: str, *, dynamic: tuple[tuple[int, ...], ...] | None = None,
                     log_level: str = "WARNING") -> bytes:
    """A serialized engine built from ``onnx_path`` with the ``tensorrt`` Python API.

    ``dynamic``: the (min, opt, max) input shapes of a dynamic-batch model's optimisation profile.
    """
    import tensorrt as trt

    logger = trt.Logger(getattr(trt.Logger, log_level))
    builder = trt.Builder(logger)
    typed = strongly_typed(trt)
    flags = 0
    if typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif int(trt.__version__.split(".")[0]) < 10:  # explicit batch became the only mode in TensorRT 10
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise HwdiffError(f"TensorRT {trt.__version__} cannot parse {onnx_path}: {errors[:300]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16" and not typed:
        config.set_flag(trt.BuilderFlag.FP16)
    if dynamic is not None:
        profile = builder.create_optimization_profile()
        profile.set_shape("input", *dynamic)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise HwdiffError(f"TensorRT {trt.__version__} could not build an engine from {onnx_path} "
                          "(its log above says why)")
    return bytes(serialized)


def _build_trtexec(tensorrt: TensorRT, onnx_path: Path, out: Path, precision: str, batch: int, dynamic_batch: bool,
                   input_size: tuple[int, ...], max_batch: int) -> None:
    major, minor = (int(v) for v in tensorrt.version.split(".")[:2])
    args = [f"--onnx={onnx_path}", f"--saveEngine={out}"]
    if precision == "fp16":
        args.append("--stronglyTyped" if tensorrt.strongly_typed else "--fp16")
    if dynamic_batch:
        dims = "x".join(str(d) for d in input_size)
        args += [f"--minShapes=input:1x{dims}", f"--optShapes=input:{batch}x{dims}",
                 f"--maxShapes=input:{max_batch}x{dims}"]
    args.append("--skipInference" if (major, minor) >= (8, 6) else "--buildOnly")
    _run_trtexec(tensorrt, args, f"build an engine from {onnx_path}")
    if not out.exists() or out.stat().st_size == 0:
        raise HwdiffError(f"trtexec could not build an engine from {onnx_path}: it wrote no engine")


def _run_trtexec(tensorrt: TensorRT, args: list[str], what: str) -> str:
    """Run trtexec with ``args``; its output, or one line with its last error."""
    try:
        proc = subprocess.run([tensorrt.trtexec, *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise HwdiffError(f"cannot run {tensorrt.trtexec} ({exc})") from None
    if proc.returncode != 0:
        tail = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line or "Error" in line]
        reason = tail[-1] if tail else f"exit code {proc.returncode}"
        raise HwdiffError(f"trtexec could not {what}: {reason[:300]}")
    return proc.stdout + proc.stderr


def _shapes_arg(shape: tuple[int, ...], dynamic: bool) -> list[str]:
    return [f"--shapes=input:{'x'.join(str(d) for d in shape)}"] if dynamic else []


def trtexec_output(tensorrt: TensorRT, engine_path: Path, x: np.ndarray, *, fp16_input: bool,
                   dynamic: bool) -> np.ndarray:
    """The engine's output on ``x``, run once by trtexec (``--loadInputs`` raw bytes, ``--exportOutput`` JSON)."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="hwdiff-trtexec-") as scratch:
        data, out = Path(scratch) / "input.bin", Path(scratch) / "output.json"
        data.write_bytes(np.ascontiguousarray(x, dtype=np.float16 if fp16_input else np.float32).tobytes())
        _run_trtexec(tensorrt, [f"--loadEngine={engine_path}", f"--loadInputs=input:{data}", f"--exportOutput={out}",
                                *_shapes_arg(x.shape, dynamic), "--iterations=1", "--warmUp=0", "--duration=0"],
                     f"run the engine {engine_path.name}")
        try:
            entry = json.loads(out.read_text())[0]
            dims = [int(d) for d in str(entry["dimensions"]).split("x")]
            return np.asarray(entry["values"], dtype=np.float32).reshape(dims)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise HwdiffError(f"trtexec wrote no readable output for {engine_path.name} ({exc})") from None


GPU_COMPUTE = re.compile(r"GPU Compute Time: min = ([\d.]+) ms, max = ([\d.]+) ms, mean = ([\d.]+) ms, "
                         r"median = ([\d.]+) ms")


def trtexec_time(tensorrt: TensorRT, engine_path: Path, shape: tuple[int, ...], *, dynamic: bool) -> dict[str, Any]:
    """trtexec's own timing of the engine (its defaults: 200 ms warm-up, at least 10 runs over 3 s)."""
    text = _run_trtexec(tensorrt, [f"--loadEngine={engine_path}", *_shapes_arg(shape, dynamic)],
                        f"time the engine {engine_path.name}")
    found = GPU_COMPUTE.findall(text)
    if not found:
        raise HwdiffError(f"trtexec printed no 'GPU Compute Time' for {engine_path.name}; is it TensorRT's trtexec?")
    low, high, mean, median = (float(v) for v in found[-1])
    return {"median_ms": median, "mean_ms": mean, "min_ms": low, "max_ms": high,
            "timer": "trtexec GPU Compute Time (its defaults: 200 ms warm-up, >= 10 runs over 3 s)"}
