"""``hwdiff export``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hwdiff.cli.interrupt import interruptible
from hwdiff.cli.remote_options import IDENTITY, REMOTE_PYTHON
from hwdiff.cli.render import console, err_console, print_json
from hwdiff.errors import HwdiffError
from hwdiff.hardware.onnx_writer import DEFAULT_OPSET

if TYPE_CHECKING:  # torch is imported when the command runs, not for --help
    from hwdiff.deploy.export import ExportResult
    from hwdiff.deploy.source import ModelSource

FORMATS = "onnx, torchscript, trt"  # hwdiff.deploy.export.export_formats(), without importing torch


def _describe(source: ModelSource) -> str:
    if source.kind == "last-search":
        device = f", searched for device {source.device}" if source.device else ""
        return (f"no SOURCE given: the last search's best architecture {source.arch} (space {source.space}, "
                f"dataset {source.dataset}{device}), random weights")
    if source.kind == "checkpoint":
        return (f"checkpoint {source.checkpoint}: {source.arch} (space {source.space}, {source.num_classes} classes), "
                f"{source.weights} weights")
    return f"{source.arch} (space {source.space}, dataset {source.dataset}), {source.weights} weights"


def _parity_line(parity: dict) -> str:
    return (f"parity vs PyTorch ({parity['runtime']}): max abs {parity['max_abs_error']:.3g}, "
            f"max rel {parity['max_rel_error']:.3g} (atol {parity['atol']:g} + rtol {parity['rtol']:g} x max|logit|) "
            "passed")


def export(
    source: str = typer.Argument(None, help="Architecture string, finetune checkpoint (or run directory); "
                                            "default: the last search's best architecture."),
    fmt: str = typer.Option("onnx", "--format", "-f", help=f"{FORMATS}."),
    space: str = typer.Option(None, help="Space of an architecture string (default: nb201)."),
    dataset: str = typer.Option(None, help="Dataset tag (classes, input size) (default: the space's first)."),
    precision: str = typer.Option("fp32", help="fp32 or fp16."),
    batch: int = typer.Option(1, help="Batch size of the exported input."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Export a dynamic batch dimension."),
    output: Path = typer.Option(None, "--output", "-o", help="Output file or existing directory "
                                                             "(default: $HWDIFF_HOME/exports/)."),
    atol: float = typer.Option(None, help="Parity: absolute tolerance (default: 1e-4 fp32, 5e-2 fp16)."),
    rtol: float = typer.Option(None, help="Parity: tolerance relative to the largest logit (default: 1e-5 fp32, "
                                          "1e-2 fp16); passes when max|y - y_ref| <= atol + rtol * max|y_ref|."),
    opset: int = typer.Option(DEFAULT_OPSET, help="ONNX opset."),
    seed: int = typer.Option(0, help="Seed of random weights (architecture sources) and parity inputs."),
    remote: str = typer.Option(None, "--remote", help="--format trt: build, check and time the engine on this "
                               "machine, ssh://user@host[:port], which has the same hwdiff version; the engine and "
                               "its sidecar are copied back."),
    identity: Path = IDENTITY,
    remote_python: str = REMOTE_PYTHON,
    json_out: bool = typer.Option(False, "--json", help="Print the sidecar(s) as JSON."),
) -> None:
    """Export a network to ONNX (checked, parity-tested with ONNX Runtime), TorchScript or a TensorRT engine."""
    from hwdiff.deploy.export import ExportOptions
    from hwdiff.deploy.export import export as run_export
    from hwdiff.deploy.source import resolve_source
    from hwdiff.hardware.ssh import Remote

    if remote is None and (identity is not None or remote_python is not None):
        raise HwdiffError("--identity and --remote-python go with --remote ssh://user@host; add --remote or drop them")
    options = ExportOptions(format=fmt, precision=precision, batch=batch, dynamic_batch=dynamic_batch,
                            output=output, atol=atol, rtol=rtol, opset=opset, seed=seed)
    options.validate()
    if remote is not None:
        options.check_remote()
        options = dataclasses.replace(options, remote=Remote(remote, identity=identity, python=remote_python))
    model_source = resolve_source(source, space, dataset, seed)
    if remote is not None:
        err_console.print(f"building the engine on {options.remote.target.url} ...", markup=False)
    with interruptible("each file is written whole or not at all; those finished stay", "exports again"):
        result = run_export(model_source, options)
    err_console.print(f"exported {_describe(model_source)}", markup=False, soft_wrap=True)
    if json_out:
        print_json([r.doc | {"path": str(r.path)} for r in [*result.extra, result]])
        return
    for r in [*result.extra, result]:
        _print(r)


def _print(result: ExportResult) -> None:
    doc = result.doc
    shape = "x".join(str(d) for d in doc["input"]["shape"])
    exporter = doc["exporter"]
    how = ", ".join(v for v in (exporter["name"], exporter.get("mode") or exporter.get("builder")) if v)
    opset = f", opset {exporter['opset']}" if "opset" in exporter else ""
    console.print(f"wrote {result.path} ({doc['format']}, {doc['precision']}, input {shape}, {how}{opset})",
                  markup=False, soft_wrap=True)
    parity = doc["parity"]
    if "max_abs_error" in parity:
        console.print(_parity_line(parity), markup=False, soft_wrap=True)
    built = doc.get("built_on")
    if built:
        where = f"{built['host']}" + (f" ({built['remote']['url']})" if built.get("remote") else "")
        what = built.get("standin") or f"TensorRT {built['tensorrt']}"
        console.print(f"built on {where}: {built.get('gpu') or 'no CUDA GPU'}, {what}; runs only there",
                      markup=False, soft_wrap=True)
        if parity.get("engine"):
            console.print(_parity_line(parity["engine"]), markup=False, soft_wrap=True)
        if doc.get("measurement"):
            m = doc["measurement"]
            spread = (f"IQR {m['q1_ms']:.4g}-{m['q3_ms']:.4g} ms" if "q1_ms" in m
                      else f"min-max {m['min_ms']:.4g}-{m['max_ms']:.4g} ms")
            console.print(f"engine latency {m['median_ms']:.4g} ms (batch-{doc['input']['example_batch']} latency, "
                          f"median, {spread}; {m['timer']})", markup=False, soft_wrap=True)
        elif doc.get("engine_not_run"):
            console.print(f"engine not run: {doc['engine_not_run']}", markup=False, soft_wrap=True)
    console.print(f"sidecar {result.sidecar}", markup=False, soft_wrap=True)


def build_engine(
    onnx: Path = typer.Argument(..., help="The ONNX model (x.engine.onnx) that hwdiff export wrote."),
    reference: Path = typer.Option(..., help="Parity reference (.npz: input_i, output_i) computed by hwdiff export."),
    output: Path = typer.Option(..., "--output", "-o", help="The engine file to write."),
    precision: str = typer.Option("fp32", help="fp32 or fp16."),
    batch: int = typer.Option(1, help="The export's batch size."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="A dynamic batch dimension."),
    atol: float = typer.Option(..., help="Parity: absolute tolerance."),
    rtol: float = typer.Option(..., help="Parity: tolerance relative to the largest logit."),
    json_out: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
) -> None:
    """The board's half of `export --format trt --remote`: build, check and time an engine here."""
    from hwdiff.deploy.engine import board_build

    doc = board_build(onnx, reference, output, precision=precision, batch=batch, dynamic_batch=dynamic_batch,
                      tolerance=(atol, rtol))
    print(json.dumps(doc, allow_nan=False) if json_out else f"wrote {output}")
