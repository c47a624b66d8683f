"""``hwdiff bench-model``: time an exported file with the profiling timer, beside the device profile's prediction.

The file is run as exported (ONNX through ONNX Runtime, TorchScript through ``torch.jit.load``, a
TensorRT engine through the TensorRT runtime) by the runners of ``hwdiff.hardware.backends`` and
timed by ``hwdiff.hardware.timing.measure_latency``, the same timer that builds latency profiles;
the export's sidecar says which architecture it is, so the device's profile can predict it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwdiff.deploy.export import MAX_DYNAMIC_BATCH, file_sha256, sidecar_path
from hwdiff.errors import HwdiffError
from hwdiff.hardware import find_profile, get_device
from hwdiff.hardware.backends import CallRunner, TensorRTRunner, TorchRunner, backend_class, onnxruntime_session
from hwdiff.hardware.profiling import MAX_THREADS
from hwdiff.hardware.timing import Measurement, TimingSettings, measure_latency

FORMAT_BY_SUFFIX = {".onnx": "onnx", ".engine": "trt", ".plan": "trt", ".trt": "trt", ".pt": "torchscript",
                    ".ts": "torchscript"}
# The hardware backends (``hwdiff.hardware.backends``) that can run each format; the first is the default.
BACKENDS_BY_FORMAT = {"onnx": ("onnxruntime", "onnxruntime-trt"), "torchscript": ("pytorch",), "trt": ("tensorrt",)}
GPU_KINDS = ("server-gpu", "edge-gpu")
# The largest input a sidecar may state: 2**28 elements (1 GiB of fp32), far above any network of the spaces.
MAX_INPUT_ELEMENTS = 2**28


@dataclass
class ExportedFile:
    """An exported model and what its sidecar says about it (``doc`` is ``None`` without a sidecar)."""

    path: Path
    format: str
    input_shape: tuple[int, ...]  # (batch, C, H, W)
    dtype: str  # "float32" | "float16"
    doc: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> str:
        """What the export was asked for (an fp16 engine may have fp32 inputs)."""
        return self.doc["precision"] if self.doc else self.dtype.replace("float", "fp")

    @property
    def arch(self) -> str | None:
        return self.doc["source"]["arch"] if self.doc else None

    @property
    def space(self) -> str | None:
        return self.doc["source"]["space"] if self.doc else None


def _onnx_input(path: Path) -> tuple[tuple[int, ...], str]:
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # protobuf raises its own DecodeError
        raise HwdiffError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from None
    tensor = graph.input[0].type.tensor_type
    dims = tuple(d.dim_value if d.dim_value > 0 else 1 for d in tensor.shape.dim)
    return dims, "float16" if tensor.elem_type == onnx.TensorProto.FLOAT16 else "float32"


def _sidecar_input(doc: dict[str, Any], side: Path) -> tuple[tuple[int, ...], str]:
    """The input shape and dtype a sidecar states, refused (one line) unless they are what an export writes."""
    source = doc.get("source")
    try:
        shape, dtype = list(doc["input"]["shape"]), doc["input"]["dtype"]
        batch = doc["input"].get("example_batch", 1) if shape[:1] == ["dynamic"] else shape[0]
        dims = (batch, *shape[1:])
    except (KeyError, TypeError, IndexError, AttributeError):
        dims = dtype = None
    if (dims is None or not isinstance(source, dict) or not isinstance(doc.get("precision"), str)
            or not all(isinstance(source.get(key), str) for key in ("arch", "space"))):
        raise HwdiffError(f"sidecar {side} lacks its input shape, dtype, precision or source; export the model again")
    if (len(dims) != 4 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims)
            or dims[0] > MAX_DYNAMIC_BATCH or math.prod(dims) > MAX_INPUT_ELEMENTS):
        raise HwdiffError(f"sidecar {side}: input shape {shape} is not batch x channels x height x width of positive "
                          f"integers (batch <= {MAX_DYNAMIC_BATCH}, at most {MAX_INPUT_ELEMENTS:,} elements); "
                          "export the model again")
    if dtype not in ("float32", "float16"):
        raise HwdiffError(f"sidecar {side}: input dtype {dtype!r}; accepted: float32, float16")
    return dims, dtype


def open_exported(path: str | Path, trust_code: bool = False) -> ExportedFile:
    """Find out what ``path`` is: its format, input, and (from ``FILE.json``) its architecture.

    TorchScript runs code from the file when loaded: only a file its sidecar's checksum matches
    (as ``hwdiff export`` wrote it) is opened, unless ``trust_code``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise HwdiffError(f"exported model {path} does not exist; give a file written by `hwdiff export`")
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise HwdiffError(f"cannot tell the format of {path}; accepted suffixes: {', '.join(FORMAT_BY_SUFFIX)}")
    notes: list[str] = []
    side = sidecar_path(path)
    doc = None
    if side.is_file():
        try:
            doc = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HwdiffError(f"sidecar {side} is unreadable ({exc}); export the model again") from None
        if not isinstance(doc, dict) or doc.get("schema") != "hwdiff.export":
            raise HwdiffError(f"{side} is not an hwdiff export sidecar; export the model again")
        if file_sha256(path) != doc.get("sha256"):
            if fmt == "torchscript" and not trust_code:
                raise HwdiffError(f"{path} is not the file {side.name} describes (its checksum differs): loading "
                                  "TorchScript runs code from the file; pass --trust-code only for a file you trust")
            notes.append(f"{path.name} changed since it was exported (checksum differs from {side.name})")
        shape, dtype = _sidecar_input(doc, side)
        return ExportedFile(path, fmt, shape, dtype, doc, notes)
    if fmt != "onnx":
        raise HwdiffError(f"{path} has no sidecar {side.name}; bench-model needs it for the input shape "
                          "(export with `hwdiff export`)")
    shape, dtype = _onnx_input(path)
    notes.append(f"no sidecar {side.name}: the architecture is unknown, so there is no prediction")
    return ExportedFile(path, fmt, shape, dtype, None, notes)


def _example(model: ExportedFile, target: str):
    import torch

    dtype = torch.float16 if model.dtype == "float16" else torch.float32
    x = torch.randn(model.input_shape, generator=torch.Generator().manual_seed(0))
    return x.to(device=target, dtype=dtype)


def make_runner(model: ExportedFile, backend: str, target: str, threads: int):
    """A timer-ready runner for the file (the hardware backends' runner classes)."""
    import torch

    accepted = BACKENDS_BY_FORMAT[model.format]
    if backend not in accepted:
        raise HwdiffError(f"--backend {backend} cannot run a {model.format} file; accepted: {', '.join(accepted)}")
    cls = backend_class(backend)
    if target not in cls.targets:
        raise HwdiffError(f"backend {backend} runs on {', '.join(cls.targets)}, not {target}")
    reason = cls.missing(target)
    if reason:
        raise HwdiffError(reason)
    torch.set_num_threads(threads)
    if model.format == "onnx":
        session = onnxruntime_session(str(model.path), threads, cls.providers(target, model.precision))
        feeds = {session.get_inputs()[0].name: _example(model, "cpu").numpy()}
        return CallRunner(lambda: session.run(None, feeds), keep=session)
    if model.format == "torchscript":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(model.path), map_location=target).eval()
        return TorchRunner(module, _example(model, target))
    from hwdiff.deploy.engine import check_engine_here

    check_engine_here(model.path, model.doc)  # built for this GPU and TensorRT, sidecar intact: else one line
    import tensorrt as trt

    if model.doc and model.doc["input"]["shape"][0] == "dynamic":
        raise HwdiffError(f"{model.path} is a dynamic-batch engine; bench-model times fixed shapes: export the "
                          "engine with a fixed --batch")
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(model.path.read_bytes())
    if engine is None:
        raise HwdiffError(f"TensorRT {trt.__version__} cannot load {model.path}: engines only run with the TensorRT "
                          "version and GPU they were built for")
    return TensorRTRunner(engine, _example(model, "cuda"))


@dataclass
class BenchResult:
    model: ExportedFile
    backend: str
    target: str
    threads: int
    device: str
    measurement: Measurement
    profile: str | None
    predicted_ms: float | None
    notes: list[str]

    @property
    def error_pct(self) -> float | None:
        """(measured - predicted) / predicted, in percent."""
        if self.predicted_ms is None:
            return None
        return 100.0 * (self.measurement.median_ms - self.predicted_ms) / self.predicted_ms

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.model.path), "format": self.model.format, "arch": self.model.arch,
                "space": self.model.space, "input_shape": list(self.model.input_shape), "dtype": self.model.dtype,
                "backend": self.backend, "target": self.target, "threads": self.threads, "device": self.device,
                "measured_ms": self.measurement.median_ms, "measurement": self.measurement.to_json(),
                "profile": self.profile, "predicted_ms": self.predicted_ms, "error_pct": self.error_pct,
                "notes": self.notes}


def _default_threads(profile_provenance: dict[str, Any] | None, device_threads: Any) -> int:
    """The profile's own thread count (so both figures are measured alike), else the device spec's, else 1."""
    for value in ((profile_provenance or {}).get("threads"), device_threads):
        if isinstance(value, int) and value > 0:
            return value
        if value == 0:
            return os.cpu_count() or 1
    return 1


def bench_model(path: str | Path, *, device: str | None = None, backend: str | None = None,
                target: str | None = None, threads: int | None = None,
                settings: TimingSettings | None = None, trust_code: bool = False) -> BenchResult:
    """Measure ``path`` and compare with ``device``'s profile prediction for its architecture."""
    model = open_exported(path, trust_code)
    notes = list(model.notes)
    backend = BACKENDS_BY_FORMAT[model.format][0] if backend is None else backend  # "" is refused, not the default
    if target is None:
        target = "cuda" if model.format == "trt" or backend == "onnxruntime-trt" else None
    device_name = ("cuda" if target == "cuda" else "cpu") if device is None else device
    spec = get_device(device_name)
    if target is None:
        target = "cuda" if spec.kind in GPU_KINDS else "cpu"
    if spec.kind not in GPU_KINDS + ("cpu",):
        notes.append(f"{spec.name} is a {spec.kind} device: measured here on the {target}, so the error compares "
                     "different hardware; run bench-model on the device itself")
    profile = None
    predicted = None
    if model.arch is not None:
        try:
            profile = find_profile(spec.name, model.space)
        except HwdiffError as exc:
            notes.append(f"no prediction: {exc}")
    if profile is not None:
        predicted = float(np.asarray(profile.predict([model.arch]))[0])
        batch = profile.provenance.get("batch_size")
        if isinstance(batch, int) and batch != model.input_shape[0]:
            notes.append(f"the profile {profile.name} was measured at batch {batch}, this file runs batch "
                         f"{model.input_shape[0]}")
    if threads is None:
        threads = _default_threads(profile.provenance if profile else None, spec.profiling.get("threads"))
    if not 1 <= threads <= MAX_THREADS:
        raise HwdiffError(f"--threads must be between 1 and {MAX_THREADS} (got {threads})")
    runner = make_runner(model, backend, target, threads)
    measurement = measure_latency(runner, settings)
    return BenchResult(model=model, backend=backend, target=target, threads=threads, device=spec.name,
                       measurement=measurement, profile=profile.name if profile else None, predicted_ms=predicted,
                       notes=notes)
