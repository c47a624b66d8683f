"""Inference backends behind one small interface: prepare a module once, then time its ``Runner``.

    backend = create_backend("onnxruntime", BackendOptions(target="cpu", threads=1))
    runner = backend.prepare(model, input_shape=(3, 32, 32))
    measurement = measure_latency(runner, TimingSettings())

Backends (``backend_names()``):

* ``pytorch`` -- eager PyTorch on CPU or CUDA (fp16 on CUDA only);
* ``pytorch-compile`` -- the same through ``torch.compile`` (inductor; compiled once in ``prepare``);
* ``onnxruntime`` -- ONNX Runtime, CPU execution provider on ``cpu``, CUDA provider on ``cuda``;
* ``onnxruntime-trt`` -- ONNX Runtime's TensorRT execution provider (CUDA fallback);
* ``tensorrt`` -- a TensorRT engine built from ONNX with the ``tensorrt`` Python API (FP32/FP16).

The ONNX backends load what ``hwdiff.hardware.onnx_writer`` writes, and ``tensorrt`` builds through
``hwdiff.hardware.trt_engine``: the same writer and builder as ``hwdiff export``.

A backend that cannot run here raises ``HwdiffError`` with one line saying what is missing and how
to get it; ``Backend.missing(target)`` answers the same question without raising.
"""

from __future__ import annotations

import abc
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hwdiff.errors import HwdiffError
from hwdiff.hardware.onnx_writer import onnx_bytes, write_onnx

TARGETS = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class BackendOptions:
    """Where and how a backend runs. ``threads`` is the fixed CPU thread count (>= 1)."""

    target: str = "cpu"
    precision: str = "fp32"
    threads: int = 1
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise HwdiffError(f"unknown target {self.target!r}; accepted: {', '.join(TARGETS)}")
        if self.precision not in PRECISIONS:
            raise HwdiffError(f"unknown precision {self.precision!r}; accepted: {', '.join(PRECISIONS)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise HwdiffError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise HwdiffError(f"threads must be a positive integer here, got {self.threads!r}")


class TorchRunner:
    """Calls a module on a fixed input; on CUDA it is timed by events on the current stream."""

    def __init__(self, module: Any, example: Any):
        import torch

        self._module, self._x, self._torch = module, example, torch
        self._cuda = example.is_cuda
        self.timer = "cuda-events" if self._cuda else "perf_counter"

    def __call__(self) -> None:
        with self._torch.inference_mode():
            self._module(self._x)

    def synchronize(self) -> None:
        if self._cuda:
            self._torch.cuda.synchronize()

    @property
    def cuda_stream(self) -> Any:
        return self._torch.cuda.current_stream() if self._cuda else None


class CallRunner:
    """A synchronous call (ONNX Runtime ``run``): it returns when the inference is done."""

    timer = "perf_counter"
    cuda_stream = None

    def __init__(self, call: Callable[[], Any], keep: Any = None):
        self._call = call
        self._keep = keep  # what the call needs alive (session, device buffers)

    def __call__(self) -> None:
        self._call()

    def synchronize(self) -> None:
        pass


class Backend(abc.ABC):
    """One way of running a network. Subclasses register with ``@register_backend``."""

    name: ClassVar[str]
    targets: ClassVar[tuple[str, ...]]
    precisions: ClassVar[dict[str, tuple[str, ...]]]
    # Rewrites the whole graph (fusion, layout, shared subexpressions), so layers' costs interact.
    compiles_graph: ClassVar[bool] = True

    def __init__(self, options: BackendOptions):
        self.check(options)
        self.options = options
        self._setup()

    @classmethod
    def check(cls, options: BackendOptions) -> None:
        """Raise ``HwdiffError`` (one line) if this backend cannot run ``options`` on this machine."""
        if options.target not in cls.targets:
            raise HwdiffError(f"backend {cls.name} does not run on {options.target}; it runs on "
                              f"{', '.join(cls.targets)}")
        allowed = cls.precisions[options.target]
        if options.precision not in allowed:
            raise HwdiffError(f"backend {cls.name} on {options.target} measures {', '.join(allowed)}, "
                              f"not {options.precision}")
        reason = cls.missing(options.target)
        if reason:
            raise HwdiffError(reason)

    @classmethod
    @abc.abstractmethod
    def missing(cls, target: str) -> str | None:
        """``None`` when the backend can run on ``target`` here, else one line: what is missing, how to get it."""

    @abc.abstractmethod
    def versions(self) -> dict[str, Any]:
        """Versions of everything that shapes the figures (framework, runtime, CUDA)."""

    @abc.abstractmethod
    def prepare(self, module: Any, input_shape: tuple[int, ...]) -> Any:
        """A ``Runner`` for ``module`` on a fixed random input of ``(batch, *input_shape)``."""

    def _setup(self) -> None:
        """Fix process-wide settings (threads) once; called after the checks."""
        import torch

        torch.set_num_threads(self.options.threads)

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {"backend": self.name, "target": o.target, "precision": o.precision, "batch_size": o.batch_size,
                "threads": o.threads, "versions": self.versions()}

    def _example(self, input_shape: tuple[int, ...]) -> Any:
        import torch

        dtype = torch.float16 if self.options.precision == "fp16" else torch.float32
        generator = torch.Generator().manual_seed(0)
        x = torch.randn((self.options.batch_size, *input_shape), generator=generator)
        return x.to(device=self.options.target, dtype=dtype)

    def _module(self, module: Any) -> Any:
        import torch

        dtype = torch.float16 if self.options.precision == "fp16" else torch.float32
        return module.eval().to(device=self.options.target, dtype=dtype)


_BACKENDS: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    _BACKENDS[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return list(_BACKENDS)


def backend_class(name: str) -> type[Backend]:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise HwdiffError(f"unknown backend {name!r}; accepted: {', '.join(_BACKENDS)}") from None


def create_backend(name: str, options: BackendOptions) -> Backend:
    """The backend ``name`` set up for ``options``; ``HwdiffError`` (one line) if it cannot run here."""
    return backend_class(name)(options)


def _cuda_missing() -> str | None:
    import torch

    if torch.cuda.is_available():
        return None
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    build = f"torch {torch.__version__}, {cuda}"
    return (f"no CUDA GPU is visible to PyTorch ({build}); run on the GPU machine with an NVIDIA driver, "
            "or profile --device cpu")


@register_backend
class PyTorchBackend(Backend):
    name = "pytorch"
    targets = TARGETS
    precisions = {"cpu": ("fp32",), "cuda": ("fp32", "fp16")}
    compiles_graph = False

    @classmethod
    def missing(cls, target: str) -> str | None:
        return _cuda_missing() if target == "cuda" else None

    def versions(self) -> dict[str, Any]:
        import torch

        out: dict[str, Any] = {"torch": torch.__version__}
        if self.options.target == "cuda":
            out |= {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                    "gpu": torch.cuda.get_device_name()}
        else:
            out |= {"mkldnn": torch.backends.mkldnn.is_available(), "mkl": torch.backends.mkl.is_available()}
        return out

    def prepare(self, module: Any, input_shape: tuple[int, ...]) -> TorchRunner:
        return TorchRunner(self._module(module), self._example(input_shape))


@register_backend
class PyTorchCompileBackend(PyTorchBackend):
    """``torch.compile`` (inductor). Compilation happens in ``prepare``, outside any timing."""

    name = "pytorch-compile"
    compiles_graph = True

    @classmethod
    def missing(cls, target: str) -> str | None:
        if target == "cpu" and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
            return ("torch.compile on the CPU needs a C++ compiler (none of g++, c++, clang++ found); install one "
                    "(e.g. `apt install g++`) or use --backend pytorch")
        return super().missing(target)

    def prepare(self, module: Any, input_shape: tuple[int, ...]) -> TorchRunner:
        import torch

        runner = TorchRunner(torch.compile(self._module(module), dynamic=False), self._example(input_shape))
        runner()
        runner.synchronize()
        return runner


def _onnxruntime_missing(providers: tuple[str, ...]) -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "ONNX Runtime is not installed; `pip install onnxruntime` (CPU) or `pip install onnxruntime-gpu` (CUDA)"
    have = ort.get_available_providers()
    lacking = [p for p in providers if p not in have]
    if lacking:
        return (f"ONNX Runtime {ort.__version__} here has no {', '.join(lacking)} (it has {', '.join(have)}); "
                "install `onnxruntime-gpu` built for your CUDA (and TensorRT for its TensorRT provider)")
    return None


def onnxruntime_session(model: bytes | str, threads: int, providers: list[Any]) -> Any:
    """An ONNX Runtime session as every hwdiff timing runs one: all graph optimisations, fixed threads, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=providers)


@register_backend
class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    targets = TARGETS
    precisions = {"cpu": ("fp32",), "cuda": ("fp32", "fp16")}

    @staticmethod
    def providers(target: str, precision: str) -> list[Any]:
        """ONNX Runtime's execution providers for ``target`` (and ``precision``, for TensorRT's)."""
        return ["CUDAExecutionProvider"] if target == "cuda" else ["CPUExecutionProvider"]

    @classmethod
    def missing(cls, target: str) -> str | None:
        if target == "cuda":
            return _cuda_missing() or _onnxruntime_missing(("CUDAExecutionProvider",))
        return _onnxruntime_missing(("CPUExecutionProvider",))

    def versions(self) -> dict[str, Any]:
        import onnxruntime as ort
        import torch

        providers = [p if isinstance(p, str) else p[0] for p in self.providers(self.options.target,
                                                                              self.options.precision)]
        return {"onnxruntime": ort.__version__, "providers": providers, "torch (export)": torch.__version__}

    def prepare(self, module: Any, input_shape: tuple[int, ...]) -> CallRunner:
        import onnxruntime as ort

        module, x = self._module(module), self._example(input_shape)
        session = onnxruntime_session(onnx_bytes(module, x), self.options.threads,
                                      self.providers(self.options.target, self.options.precision))
        # The exporter drops an input the output does not depend on (a network that computes a constant).
        inputs = [i.name for i in session.get_inputs()]
        if self.options.target == "cpu":
            feeds = {name: x.numpy() for name in inputs}
            return CallRunner(lambda: session.run(None, feeds), keep=session)
        binding = session.io_binding()
        x_ort = ort.OrtValue.ortvalue_from_numpy(x.cpu().numpy(), "cuda", 0)
        for name in inputs:
            binding.bind_ortvalue_input(name, x_ort)
        binding.bind_output(session.get_outputs()[0].name, "cuda")
        return CallRunner(lambda: session.run_with_iobinding(binding), keep=(session, x_ort))


@register_backend
class OnnxRuntimeTensorRTBackend(OnnxRuntimeBackend):
    """ONNX Runtime with its TensorRT execution provider (builds engines on first run, in ``prepare``)."""

    name = "onnxruntime-trt"
    targets = ("cuda",)
    precisions = {"cuda": ("fp32", "fp16")}

    @classmethod
    def missing(cls, target: str) -> str | None:
        return _cuda_missing() or _onnxruntime_missing(("TensorrtExecutionProvider", "CUDAExecutionProvider"))

    @staticmethod
    def providers(target: str, precision: str) -> list[Any]:
        return [("TensorrtExecutionProvider", {"trt_fp16_enable": precision == "fp16"}), "CUDAExecutionProvider"]

    def _module(self, module: Any) -> Any:
        return module.eval().to(device="cuda")  # TensorRT lowers precision itself (trt_fp16_enable)

    def _example(self, input_shape: tuple[int, ...]) -> Any:
        import torch

        return super()._example(input_shape).to(torch.float32)

    def prepare(self, module: Any, input_shape: tuple[int, ...]) -> CallRunner:
        runner = super().prepare(module, input_shape)
        runner()  # the engine is built on the first run; keep that out of the warm-up
        return runner


@register_backend
class TensorRTBackend(Backend):
    """A TensorRT engine built from ONNX through the ``tensorrt`` Python API (TensorRT >= 8.5)."""

    name = "tensorrt"
    targets = ("cuda",)
    precisions = {"cuda": ("fp32", "fp16")}

    @classmethod
    def missing(cls, target: str) -> str | None:
        try:
            import tensorrt as trt
        except ImportError:
            return ("TensorRT is not installed; `pip install hwdiff[trt]` (pip package `tensorrt`, x86-64 with CUDA) "
                    "or, on Jetson, the python3-libnvinfer that JetPack ships")
        if not hasattr(trt.IExecutionContext, "execute_async_v3"):
            return f"TensorRT {trt.__version__} is too old (needs >= 8.5 for named I/O tensors); upgrade it"
        return _cuda_missing()

    def versions(self) -> dict[str, Any]:
        import tensorrt as trt
        import torch

        return {"tensorrt": trt.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(),
                "torch (export, buffers)": torch.__version__}

    def prepare(self, module: Any, input_shape: tuple[int, ...]) -> TensorRTRunner:
        import tempfile

        import tensorrt as trt
        import torch

        from hwdiff.hardware.trt_engine import build_serialized, onnx_precision, strongly_typed

        half = onnx_precision(self.options.precision, strongly_typed(trt)) == "fp16"
        module = module.eval().to("cuda")
        x = self._example(input_shape).to(torch.float16 if half else torch.float32)
        with tempfile.TemporaryDirectory(prefix="hwdiff-trt-") as folder:
            onnx_path = Path(folder) / "model.onnx"
            write_onnx(module.half() if half else module, x, onnx_path)
            serialized = build_serialized(onnx_path, self.options.precision, log_level="ERROR")
        engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(serialized)
        return TensorRTRunner(engine, x)


class TensorRTRunner:
    """Enqueues a TensorRT engine on its own CUDA stream; timed by CUDA events on that stream."""

    timer = "cuda-events"

    def __init__(self, engine: Any, example: Any):
        import tensorrt as trt
        import torch

        self._engine = engine
        self._context = engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        self._buffers = []
        self.output = None  # the output tensor (on the GPU), filled by each call
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                buffer = example.contiguous()
                if -1 in tuple(engine.get_tensor_shape(name)):  # a dynamic-batch engine: this call's shape
                    self._context.set_input_shape(name, tuple(buffer.shape))
            else:
                dtypes = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
                buffer = torch.empty(tuple(self._context.get_tensor_shape(name)),
                                     dtype=dtypes[engine.get_tensor_dtype(name)], device="cuda")
            self._context.set_tensor_address(name, buffer.data_ptr())
            self._buffers.append(buffer)
            if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
                self.output = buffer

    def __call__(self) -> None:
        self._context.execute_async_v3(self._stream.cuda_stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    @property
    def cuda_stream(self) -> Any:
        return self._stream


def backend_availability(target: str) -> dict[str, str]:
    """For ``devices --local``: each backend -> "ok" or why it cannot run on ``target`` here."""
    return {name: cls.missing(target) or "ok" for name, cls in _BACKENDS.items() if target in cls.targets}
