"""``hwdiff export``: a network becomes an ONNX model, a TorchScript module or a TensorRT engine.

* **onnx** -- ``hwdiff.hardware.onnx_writer``, the writer whose models ``hwdiff profile`` times
  (TorchScript exporter, opset 18 by default, ``--opset``); ``onnx.checker.check_model(full_check=True)``;
  then parity against eager PyTorch through ONNX Runtime's CPU provider on seeded random inputs.
  Above the tolerance nothing is written.
* **torchscript** -- ``torch.jit.trace`` (deprecated in PyTorch, kept for C++/LibTorch deployment),
  with the same parity check against eager PyTorch.
* **trt** -- the ONNX model first (kept beside the engine), then an engine through TensorRT
  (``hwdiff.hardware.trt_engine``, the profiling backend's builder too), checked against PyTorch and
  timed where a GPU can run it (``hwdiff.deploy.engine``); with ``remote`` all of that happens on
  the board (``hwdiff.deploy.engine_remote``). The sidecar's ``built_on`` names the host, GPU and
  TensorRT version the engine is bound to. Where TensorRT is missing the ONNX model is still written.

Every file gets a JSON sidecar ``FILE.json``: source, architecture, exporter and versions, opset,
precision, input shape, parity figures, checksum. Files are written through a temporary name, so a
failed export leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from hwdiff import __version__
from hwdiff.deploy.source import ModelSource
from hwdiff.errors import HwdiffError, check_seed
from hwdiff.hardware.onnx_writer import DEFAULT_OPSET, EXPORTER, OPSETS, quiet, write_onnx
from hwdiff.storage import atomic_path, atomic_write_text, check_writable_dir, user_dir, utc_timestamp

if TYPE_CHECKING:
    from hwdiff.hardware.ssh import Remote

PRECISIONS = ("fp32", "fp16")
# Parity passes when max |y - y_ref| <= atol + rtol * max |y_ref|. fp32: 1e-4 absolute (this project's target),
# plus 1e-5 of the logits' scale, because random-weight NB201 cells reach logits of ~1e3 where fp32 rounding
# alone is ~1e-4. fp16 keeps ~3 significant digits: logits of size ~10 carry errors of ~1e-2.
DEFAULT_ATOL = {"fp32": 1e-4, "fp16": 5e-2}
DEFAULT_RTOL = {"fp32": 1e-5, "fp16": 1e-2}
TOLERANCE_RULE = "max|y - y_ref| <= atol + rtol * max|y_ref| for every input"
MAX_DYNAMIC_BATCH = 4096
# A parity tolerance above this (1.0 absolute, or 100 % of the largest logit) lets any output pass.
MAX_TOLERANCE = 1.0
SIDECAR_SCHEMA = "hwdiff.export"
SEAL_KEY = "sidecar_sha256"


@dataclass(frozen=True)
class ExportOptions:
    format: str = "onnx"
    precision: str = "fp32"
    batch: int = 1
    dynamic_batch: bool = False
    output: Path | None = None
    atol: float | None = None
    rtol: float | None = None
    opset: int = DEFAULT_OPSET
    parity_inputs: int = 3
    seed: int = 0
    remote: Remote | None = None  # trt: build, check and time the engine on this board (hwdiff.deploy.engine_remote)

    def tolerance(self, precision: str | None = None) -> tuple[float, float]:
        """(atol, rtol) for a file of ``precision`` (default: the requested one)."""
        precision = precision or self.precision
        return (self.atol if self.atol is not None else DEFAULT_ATOL[precision],
                self.rtol if self.rtol is not None else DEFAULT_RTOL[precision])

    def check_remote(self) -> None:
        """``--remote`` is for engines only (an ONNX model or TorchScript file runs anywhere: export it here)."""
        if self.format != "trt":
            raise HwdiffError(f"--remote builds TensorRT engines on the board; it goes with --format trt, not "
                              f"{self.format} (export {self.format} here and copy the file)")

    def validate(self) -> None:
        check_seed("--seed", self.seed)
        if self.format not in _EXPORTERS:
            raise HwdiffError(f"unknown --format {self.format!r}; accepted: {', '.join(_EXPORTERS)}")
        if self.precision not in PRECISIONS:
            raise HwdiffError(f"unknown --precision {self.precision!r}; accepted: {', '.join(PRECISIONS)}")
        if not 1 <= self.batch <= MAX_DYNAMIC_BATCH:
            raise HwdiffError(f"--batch must be between 1 and {MAX_DYNAMIC_BATCH} (got {self.batch})")
        if self.atol is not None and not 0 < self.atol <= MAX_TOLERANCE:
            raise HwdiffError(f"--atol must be positive and at most {MAX_TOLERANCE:g} (got {self.atol})")
        if self.rtol is not None and not 0 <= self.rtol <= MAX_TOLERANCE:
            raise HwdiffError(f"--rtol must be >= 0 and at most {MAX_TOLERANCE:g} (got {self.rtol})")
        if self.remote is not None:
            self.check_remote()
        if not OPSETS[0] <= self.opset <= OPSETS[1]:
            raise HwdiffError(f"--opset {self.opset} is outside what this exporter writes ({OPSETS[0]} to {OPSETS[1]})")


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    doc: dict[str, Any]
    extra: list[ExportResult]  # files written on the way (the ONNX model behind a TensorRT engine)


@dataclass(frozen=True)
class _Exporter:
    suffix: str
    run: Callable[[ModelSource, ExportOptions, Path], tuple[dict[str, Any], list[ExportResult]]]


_EXPORTERS: dict[str, _Exporter] = {}


def register_exporter(name: str, suffix: str):
    """Function decorator: ``fn(source, options, path) -> (sidecar fields, files written on the way)``.

    ``fn`` writes ``path`` atomically and raises ``HwdiffError`` when a check fails.
    """

    def wrap(fn):
        _EXPORTERS[name] = _Exporter(suffix, fn)
        return fn

    return wrap


def export_formats() -> list[str]:
    return list(_EXPORTERS)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def default_output(source: ModelSource, options: ExportOptions, folder: Path | None = None) -> Path:
    batch = "dyn" if options.dynamic_batch else f"b{options.batch}"
    name = f"{source.stem}-{batch}-{options.precision}{_EXPORTERS[options.format].suffix}"
    return (folder or user_dir("exports")) / name


def resolve_output(source: ModelSource, options: ExportOptions) -> Path:
    """Where the export goes; a missing or read-only directory is refused before any work."""
    if options.output is None:
        path = default_output(source, options)
        check_writable_dir(path.parent, "--output", create=True)
        return path
    out = Path(options.output).expanduser()
    if out.is_dir():
        out = default_output(source, options, out)
    check_writable_dir(out.parent, "--output")
    return out


def export(source: ModelSource, options: ExportOptions) -> ExportResult:
    """Export ``source`` as ``options`` says; ``HwdiffError`` (nothing written) when a check fails."""
    options.validate()
    path = resolve_output(source, options)
    exporter = _EXPORTERS[options.format]
    fields, extra = exporter.run(source, options, path)
    doc = seal(_sidecar(source, options, path, fields))
    side = sidecar_path(path)
    atomic_write_text(side, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return ExportResult(path=path, sidecar=side, doc=doc, extra=extra)


def _doc_sha256(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != SEAL_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def seal(doc: dict[str, Any]) -> dict[str, Any]:
    """The sidecar with the SHA-256 of its own content (``sidecar_sha256``): an edited sidecar shows."""
    return {**doc, SEAL_KEY: _doc_sha256(doc)}


def sealed(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` is as ``hwdiff export`` wrote it (an integrity check against edits, not a signature)."""
    return isinstance(doc.get(SEAL_KEY), str) and doc[SEAL_KEY] == _doc_sha256(doc)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks (engines and models can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(source: ModelSource, options: ExportOptions, path: Path, fields: dict[str, Any]) -> dict[str, Any]:
    batch: int | str = "dynamic" if options.dynamic_batch else options.batch
    return {
        "schema": SIDECAR_SCHEMA, "schema_version": 1,
        "file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size,
        "format": options.format, "precision": options.precision,
        "input": {"name": "input", "shape": [batch, *source.input_size], "example_batch": options.batch,
                  "dtype": fields.get("onnx_precision", options.precision).replace("fp", "float")},
        "output": {"name": "logits", "shape": [batch, source.num_classes]},
        "source": source.to_json(),
        "hwdiff_version": __version__, "torch_version": torch.__version__,
        "created": utc_timestamp(),
        **fields,
    }


# -- shared pieces --------------------------------------------------------------------------------------------

def _dtype(precision: str) -> torch.dtype:
    return torch.float16 if precision == "fp16" else torch.float32


def _parity_inputs(source: ModelSource, options: ExportOptions) -> list[torch.Tensor]:
    """Seeded random inputs: ``parity_inputs`` at the export batch, plus one other batch if it is dynamic."""
    generator = torch.Generator().manual_seed(options.seed)
    batches = [options.batch] * options.parity_inputs
    if options.dynamic_batch:
        batches.append(options.batch + 2)
    return [torch.randn((b, *source.input_size), generator=generator) for b in batches]


def compare(reference: nn.Module, candidate: Callable[[torch.Tensor], np.ndarray], inputs: list[torch.Tensor],
            tolerance: tuple[float, float], what: str) -> dict[str, Any]:
    """Max abs and relative error of ``candidate`` against the fp32 PyTorch ``reference``; raise above tolerance."""
    def pairs():
        with torch.no_grad():
            for x in inputs:
                yield reference(x).float().numpy(), candidate(x)

    return compare_outputs(pairs(), [list(x.shape) for x in inputs], tolerance, what)


def compare_outputs(pairs: Iterable[tuple[np.ndarray, Any]], shapes: list[list[int]], tolerance: tuple[float, float],
                    what: str) -> dict[str, Any]:
    """Parity of (PyTorch reference, candidate) output pairs; raise above tolerance.

    The relative error is ``max |y - y_ref| / max |y_ref|`` (per input, the worst kept): element-wise
    ratios blow up on logits near zero and say nothing. The references may come from another machine
    (an engine built on the board is checked there against outputs computed here).
    """
    atol, rtol = tolerance
    max_abs = max_rel = 0.0
    passed = True
    for ref, got in pairs:
        ref = np.asarray(ref, dtype=np.float32)
        got = np.asarray(got, dtype=np.float32)
        if got.shape != ref.shape:
            raise HwdiffError(f"{what} returns shape {got.shape}, PyTorch {ref.shape}; the export is wrong")
        err = float(np.max(np.abs(got - ref)))
        scale = float(np.max(np.abs(ref)))
        passed = passed and bool(np.isfinite(err)) and err <= atol + rtol * scale
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, err / max(scale, 1e-12))
    result = {"against": f"PyTorch {torch.__version__} eager fp32 on CPU", "runtime": what,
              "inputs": shapes, "max_abs_error": max_abs, "max_rel_error": max_rel,
              "atol": atol, "rtol": rtol, "rule": TOLERANCE_RULE, "passed": passed}
    if not passed:
        raise HwdiffError(f"parity check failed: {what} differs from PyTorch by max abs {max_abs:.3g} "
                          f"(relative {max_rel:.3g}), above atol {atol:g} + rtol {rtol:g} x max|logit|; "
                          "nothing written (raise --atol/--rtol to accept it)")
    return result


# -- ONNX -----------------------------------------------------------------------------------------------------

def write_checked_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int, dynamic_batch: bool) -> None:
    """Export ``model`` to ``path`` with the one ONNX writer, then run the full ONNX checker."""
    import onnx

    write_onnx(model, example, path, opset=opset, dynamic_batch=dynamic_batch)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise HwdiffError(f"the exported ONNX model fails onnx.checker ({str(exc).splitlines()[0][:200]})") from None


def onnxruntime_runner(path: Path) -> Callable[[torch.Tensor], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32

    def run(x: torch.Tensor) -> np.ndarray:
        return session.run(None, {"input": x.numpy().astype(dtype)})[0]

    return run


def export_onnx_file(source: ModelSource, options: ExportOptions, path: Path, precision: str) -> dict[str, Any]:
    """Write a checked, parity-tested ONNX model at ``path``; return its sidecar fields."""
    import onnx
    import onnxruntime as ort

    reference = source.build()
    model = source.build().to(_dtype(precision))
    example = torch.randn((options.batch, *source.input_size), generator=torch.Generator().manual_seed(options.seed))
    with atomic_path(path) as tmp:
        write_checked_onnx(model, example.to(_dtype(precision)), tmp, options.opset, options.dynamic_batch)
        parity = compare(reference, onnxruntime_runner(tmp), _parity_inputs(source, options),
                         options.tolerance(precision), f"ONNX Runtime {ort.__version__}, CPUExecutionProvider")
    return {"exporter": {**EXPORTER, "torch": torch.__version__, "onnx": onnx.__version__, "opset": options.opset,
                         "checker": "onnx.checker full_check"},
            "onnx_precision": precision, "parity": parity}


@register_exporter("onnx", ".onnx")
def _export_onnx(source: ModelSource, options: ExportOptions, path: Path) -> tuple[dict[str, Any], list]:
    return export_onnx_file(source, options, path, options.precision), []


# -- TorchScript ----------------------------------------------------------------------------------------------

@register_exporter("torchscript", ".torchscript.pt")
def _export_torchscript(source: ModelSource, options: ExportOptions, path: Path) -> tuple[dict[str, Any], list]:
    reference = source.build()
    dtype = _dtype(options.precision)
    model = source.build().to(dtype)
    example = torch.randn((options.batch, *source.input_size), generator=torch.Generator().manual_seed(options.seed))
    with atomic_path(path) as tmp:
        with quiet(), torch.no_grad():
            torch.jit.save(torch.jit.trace(model, example.to(dtype)), str(tmp))
            loaded = torch.jit.load(str(tmp), map_location="cpu")

        def run(x: torch.Tensor) -> np.ndarray:
            with quiet(), torch.no_grad():
                return loaded(x.to(dtype)).float().numpy()

        parity = compare(reference, run, _parity_inputs(source, options), options.tolerance(),
                         f"TorchScript, torch.jit.load, torch {torch.__version__}")
    return {"exporter": {"name": "torch.jit.trace", "torch": torch.__version__}, "parity": parity}, []


# -- TensorRT -------------------------------------------------------------------------------------------------

@register_exporter("trt", ".engine")
def _export_trt(source: ModelSource, options: ExportOptions, path: Path) -> tuple[dict[str, Any], list]:
    from hwdiff.deploy.engine import build_checked_engine
    from hwdiff.hardware.trt_engine import TensorRTMissing, find_builder

    if options.remote is not None:
        from hwdiff.deploy.engine_remote import export_trt_remote

        return export_trt_remote(source, options, path)
    builder = find_builder()
    onnx_result = export_engine_onnx(source, options, path, bool(builder and builder.strongly_typed))
    if builder is None:
        raise TensorRTMissing(onnx_result.path)
    inputs, outputs = reference_outputs(source, options)
    fields = build_checked_engine(builder, onnx_result.path, path, inputs, outputs, precision=options.precision,
                                  batch=options.batch, dynamic_batch=options.dynamic_batch,
                                  tolerance=options.tolerance())
    return engine_fields(fields, onnx_result), [onnx_result]


def export_engine_onnx(source: ModelSource, options: ExportOptions, engine_path: Path,
                       strongly_typed: bool) -> ExportResult:
    """The ONNX model behind an engine, ``x.engine.onnx``, in the precision the engine's TensorRT needs.

    TensorRT 10 lowers an fp32 network with the FP16 builder flag; strongly typed networks (TensorRT 11)
    take their precision from the ONNX model, so that one is exported in fp16.
    """
    from hwdiff.hardware.trt_engine import onnx_precision

    onnx_dtype = onnx_precision(options.precision, strongly_typed)
    return export(source, dataclasses.replace(options, format="onnx", precision=onnx_dtype, remote=None,
                                              output=engine_path.with_name(engine_path.name + ".onnx")))


def reference_outputs(source: ModelSource, options: ExportOptions) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The parity inputs and eager fp32 PyTorch's outputs on them, for an engine checked where it is built."""
    reference = source.build()
    inputs = _parity_inputs(source, options)
    with torch.no_grad():
        outputs = [reference(x).float().numpy() for x in inputs]
    return [x.numpy() for x in inputs], outputs


def engine_fields(built: dict[str, Any], onnx_result: ExportResult) -> dict[str, Any]:
    """An engine's sidecar fields from its build record (``hwdiff.deploy.engine.build_checked_engine``)."""
    return {"exporter": built["exporter"], "built_on": built["built_on"], "onnx": onnx_result.path.name,
            "onnx_precision": onnx_result.doc["onnx_precision"],
            "parity": {"onnx": onnx_result.doc["parity"], "engine": built["engine_parity"]},
            "engine_not_run": built["engine_not_run"], "measurement": built["engine_measurement"]}
