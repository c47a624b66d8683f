"""TensorRT engines where they run: build, check parity, time, and refuse to load one built elsewhere.

An engine runs only on the GPU and TensorRT version it was built with. So the build happens on
the machine that will run it (here, or the board with ``hwdiff export --format trt --remote``,
``hwdiff.deploy.engine_remote``), and its sidecar records where (``built_on``: host, GPU,
TensorRT version, or the ONNX Runtime test stand-in of ``hwdiff.hardware.trt_engine``). The same
``build_checked_engine`` runs in both places: it builds, runs the engine on the reference inputs
against the PyTorch outputs computed where the model was exported, and times it with the
profiling timer. Nothing loads an engine whose sidecar is missing, edited, names another GPU or
TensorRT version, or says it is a stand-in (``check_engine_here``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hwdiff.deploy.export import ExportOptions, compare_outputs, file_sha256, sealed, sidecar_path
from hwdiff.errors import HwdiffError
from hwdiff.hardware.trt_engine import (
    StandIn,
    TensorRT,
    build_engine,
    build_standin,
    find_tensorrt,
    machine_facts,
    same_version,
    trtexec_output,
    trtexec_time,
)
from hwdiff.storage import atomic_path

REFERENCE_SUFFIX = ".reference.npz"
MAX_DYNAMIC_PROFILE_BATCH = 32  # the optimisation profile's largest batch of a dynamic-batch engine


# -- the reference: PyTorch outputs on seeded inputs, computed where the model is exported -------------------
def write_reference(path: Path, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
    """``input_i`` / ``output_i`` arrays in an ``.npz`` (no pickle), written atomically."""
    arrays = {f"input_{i}": x for i, x in enumerate(inputs)} | {f"output_{i}": y for i, y in enumerate(outputs)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_reference(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise HwdiffError(f"cannot read the parity reference {path} ({exc}); export again") from None
    count = sum(1 for k in arrays if k.startswith("input_"))
    try:
        inputs = [arrays[f"input_{i}"].astype(np.float32) for i in range(count)]
        outputs = [arrays[f"output_{i}"].astype(np.float32) for i in range(count)]
    except KeyError:
        inputs = outputs = []
    if not inputs or any(x.ndim != 4 for x in inputs):
        raise HwdiffError(f"{path} is not a parity reference (input_i, output_i arrays of hwdiff export); export again")
    return inputs, outputs


# -- build, check, time -----------------------------------------------------------------------------------
# Each runner: x -> (the engine's output on x, a thunk that times the engine at x's shape).
EngineRun = Callable[[np.ndarray], tuple[np.ndarray, Callable[[], dict[str, Any]]]]


def _timed(runner: Any) -> Callable[[], dict[str, Any]]:
    """Time ``runner`` with the profiling timer, at the settings whole networks are profiled with."""
    from hwdiff.hardware import profiling
    from hwdiff.hardware.timing import measure_latency

    return lambda: measure_latency(runner, profiling.NETWORK_TIMING).to_json()


def _tensorrt_runner(engine_path: Path) -> EngineRun:
    """The engine run by TensorRT's Python API on this machine's GPU."""
    import tensorrt as trt
    import torch

    from hwdiff.hardware.backends import TensorRTRunner

    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(engine_path.read_bytes())
    if engine is None:
        raise HwdiffError(f"TensorRT {trt.__version__} cannot load the engine it just built ({engine_path})")
    name = next(engine.get_tensor_name(i) for i in range(engine.num_io_tensors)
                if engine.get_tensor_mode(engine.get_tensor_name(i)) == trt.TensorIOMode.INPUT)
    dtype = torch.float16 if engine.get_tensor_dtype(name) == trt.float16 else torch.float32

    def run(x: np.ndarray) -> tuple[np.ndarray, Callable[[], dict[str, Any]]]:
        runner = TensorRTRunner(engine, torch.from_numpy(x).to(device="cuda", dtype=dtype))
        runner()
        runner.synchronize()
        return runner.output.float().cpu().numpy(), _timed(runner)

    return run


def _trtexec_runner(builder: TensorRT, engine_path: Path, precision: str, dynamic: bool) -> EngineRun:
    """The engine run by trtexec (a board with no Python API): inputs and outputs through files."""
    fp16_input = precision == "fp16" and builder.strongly_typed  # the ONNX model's input dtype (onnx_precision)

    def run(x: np.ndarray) -> tuple[np.ndarray, Callable[[], dict[str, Any]]]:
        output = trtexec_output(builder, engine_path, x, fp16_input=fp16_input, dynamic=dynamic)
        return output, lambda: trtexec_time(builder, engine_path, x.shape, dynamic=dynamic)

    return run


def _standin_runner(engine_path: Path) -> EngineRun:
    from hwdiff.hardware.backends import CallRunner, onnxruntime_session

    session = onnxruntime_session(str(engine_path), 1, ["CPUExecutionProvider"])
    info = session.get_inputs()[0]
    dtype = np.float16 if info.type == "tensor(float16)" else np.float32

    def run(x: np.ndarray) -> tuple[np.ndarray, Callable[[], dict[str, Any]]]:
        feeds = {info.name: x.astype(dtype)}
        return session.run(None, feeds)[0], _timed(CallRunner(lambda: session.run(None, feeds), keep=session))

    return run


def _runner(builder: TensorRT | StandIn, engine_path: Path, precision: str,
            dynamic: bool) -> tuple[EngineRun | None, str | None]:
    """How to run a freshly built engine here, or why it cannot run here."""
    if isinstance(builder, StandIn):
        return _standin_runner(engine_path), None
    if builder.kind == "trtexec":
        return _trtexec_runner(builder, engine_path, precision, dynamic), None
    import torch

    if not torch.cuda.is_available():
        return None, "no CUDA GPU here to run the engine on"
    return _tensorrt_runner(engine_path), None


def build_checked_engine(builder: TensorRT | StandIn, onnx_path: Path, engine_path: Path,
                         inputs: list[np.ndarray], outputs: list[np.ndarray], *, precision: str, batch: int,
                         dynamic_batch: bool, tolerance: tuple[float, float]) -> dict[str, Any]:
    """Build the engine from ``onnx_path``, check it against ``outputs``, time it; its sidecar fields.

    ``engine_path`` is written only when the build and the check pass.
    """
    input_size = tuple(inputs[0].shape[1:])
    with atomic_path(engine_path) as tmp:
        if isinstance(builder, StandIn):
            record = build_standin(onnx_path, tmp)
        else:
            max_batch = max(batch + 2, MAX_DYNAMIC_PROFILE_BATCH) if dynamic_batch else batch  # parity: batch + 2
            record = build_engine(builder, onnx_path, tmp, precision, batch=batch, dynamic_batch=dynamic_batch,
                                  input_size=input_size, max_batch=max_batch)
        run, why = _runner(builder, tmp, precision, dynamic_batch)
        parity = measurement = None
        if run is not None:
            results = [run(x) for x in inputs]
            what = (f"{record['builder']} on the CPU" if isinstance(builder, StandIn)
                    else f"TensorRT {builder.version} engine on {record['gpu'] or 'the GPU'}")
            parity = compare_outputs(((y, got) for y, (got, _) in zip(outputs, results)),
                                     [list(x.shape) for x in inputs], tolerance, what)
            measurement = results[0][1]()  # at the export batch
    return {"exporter": {"name": "tensorrt", **record}, "built_on": machine_facts(builder),
            "engine_parity": parity, "engine_measurement": measurement, "engine_not_run": why,
            "sha256": file_sha256(engine_path), "bytes": engine_path.stat().st_size}


def board_build(onnx_path: Path, reference_path: Path, engine_path: Path, *, precision: str, batch: int,
                dynamic_batch: bool, tolerance: tuple[float, float]) -> dict[str, Any]:
    """``hwdiff build-engine`` (the board's half of ``export --format trt --remote``)."""
    from hwdiff.hardware.trt_engine import INSTALL_HINT, find_builder

    ExportOptions(format="trt", precision=precision, batch=batch, atol=tolerance[0], rtol=tolerance[1]).validate()
    if not onnx_path.is_file():
        raise HwdiffError(f"ONNX model {onnx_path} does not exist; give the x.engine.onnx that hwdiff export wrote")
    builder = find_builder()
    if builder is None:
        raise HwdiffError(f"TensorRT is missing on this machine; {INSTALL_HINT}")
    inputs, outputs = read_reference(reference_path)
    return build_checked_engine(builder, onnx_path, engine_path, inputs, outputs, precision=precision, batch=batch,
                                dynamic_batch=dynamic_batch, tolerance=tolerance)


# -- the guard ---------------------------------------------------------------------------------------------
def _machine(facts: dict[str, Any]) -> str:
    gpu = facts.get("gpu") or "no CUDA GPU"
    trt = f"TensorRT {facts['tensorrt']}" if facts.get("tensorrt") else "no TensorRT"
    return f"{gpu} with {trt}"


def check_engine_here(path: Path, doc: dict[str, Any] | None, here: dict[str, Any] | None = None) -> None:
    """Refuse (one line) to load the engine at ``path`` unless its sidecar ``doc`` is intact and names this
    machine's GPU and TensorRT version. ``here``: this machine's facts (``machine_facts``), for tests."""
    side = sidecar_path(path)
    if doc is None:
        raise HwdiffError(f"{path} has no sidecar {side.name}: nothing says which GPU and TensorRT version it was "
                          "built for, so it is not loaded; build it again with `hwdiff export --format trt`")
    if not sealed(doc):
        raise HwdiffError(f"sidecar {side} was edited after the export (its own checksum differs) or predates "
                          "engine checks; the engine is not loaded: build it again with `hwdiff export --format trt`")
    if file_sha256(path) != doc.get("sha256"):
        raise HwdiffError(f"{path} is not the engine {side.name} describes (its checksum differs); the engine is "
                          "not loaded: build it again with `hwdiff export --format trt`")
    built = doc.get("built_on")
    if not isinstance(built, dict):
        raise HwdiffError(f"sidecar {side} records no GPU and TensorRT version for {path.name}; build it again")
    if built.get("standin"):
        raise HwdiffError(f"{path} was built by the {built['standin']} stand-in ($HWDIFF_TRT_STANDIN, for tests), "
                          "not by TensorRT; build a real engine on the machine with TensorRT")
    here = here if here is not None else machine_facts(find_tensorrt())
    same = (built.get("gpu") == here.get("gpu") and bool(here.get("tensorrt")) and bool(built.get("tensorrt"))
            and same_version(str(built["tensorrt"]), str(here["tensorrt"])))
    if not same:
        where = built.get("remote", {}).get("url") if isinstance(built.get("remote"), dict) else None
        there = f"`hwdiff bench-model {path.name} --remote {where}`" if where else "bench-model on that machine"
        raise HwdiffError(f"{path.name} was built for {_machine(built)} (on {built.get('host')}), this machine has "
                          f"{_machine(here)}: an engine runs only on the GPU and TensorRT version it was built with; "
                          f"build it here with `hwdiff export --format trt`, or measure it there ({there})")
