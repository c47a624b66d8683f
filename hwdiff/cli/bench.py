"""``hwdiff bench-model``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwdiff.cli.interrupt import interruptible
from hwdiff.cli.remote_options import IDENTITY, REMOTE_PYTHON
from hwdiff.cli.render import console, err_console, fmt_ms, print_json, warn
from hwdiff.errors import HwdiffError


def bench_model(
    file: Path = typer.Argument(..., help="Exported model: .onnx, .torchscript.pt or a TensorRT .engine."),
    device: str = typer.Option(None, help="Device whose profile predicts the latency [default: cpu, or cuda "
                                          "for GPU targets]."),
    backend: str = typer.Option(None, help="onnxruntime or onnxruntime-trt (ONNX), pytorch (TorchScript), "
                                           "tensorrt (engine) (default: by file format)."),
    target: str = typer.Option(None, help="cpu or cuda (default: cuda for engines and GPU devices, else cpu)."),
    threads: int = typer.Option(None, help="CPU threads (default: the profile's, else the device spec's)."),
    remote: str = typer.Option(None, "--remote", help="Measure on another machine, ssh://user@host or "
                               "ssh://user@host:port, which has the same hwdiff version: the file (and its sidecar) is "
                               "copied there for the run and removed after it; the prediction comes from that "
                               "machine's profiles."),
    identity: Path = IDENTITY,
    remote_python: str = REMOTE_PYTHON,
    trust_code: bool = typer.Option(False, "--trust-code", help="Load a TorchScript file whose checksum differs "
                                    "from its sidecar's (loading TorchScript runs code from the file: "
                                    "docs/deploy.md)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Measure an exported model with the profiling timer and compare it with the device profile's prediction."""
    if remote is None and (identity is not None or remote_python is not None):
        raise HwdiffError("--identity and --remote-python go with --remote ssh://user@host; add --remote or drop them")
    from hwdiff.deploy.bench import BenchResult, open_exported
    from hwdiff.deploy.bench import bench_model as run_bench
    from hwdiff.deploy.export import sidecar_path
    from hwdiff.hardware.remote import bench_remote
    from hwdiff.hardware.ssh import Remote
    from hwdiff.hardware.timing import Measurement

    with interruptible("bench-model writes no file, nothing kept", "measures again"):
        if remote is None:
            result = run_bench(file, device=device, backend=backend, target=target, threads=threads,
                               trust_code=trust_code)
            where = None
            doc = result.to_json()
        else:
            board = Remote(remote, identity=identity, python=remote_python)
            model = open_exported(file, trust_code)  # the same checks as a local run, before anything is copied
            files = [model.path] + ([sidecar_path(model.path)] if model.doc is not None else [])
            options = [word for name, value in (("--device", device), ("--backend", backend), ("--target", target),
                                                ("--threads", threads)) if value is not None
                       for word in (name, str(value))] + (["--trust-code"] if trust_code else [])
            err_console.print(f"copying {model.path.name} to {board.target.url} and measuring it there ...",
                              markup=False)
            info, remote_doc = bench_remote(board, files, options)
            result = BenchResult(model=model, backend=remote_doc["backend"], target=remote_doc["target"],
                                 threads=remote_doc["threads"], device=remote_doc["device"],
                                 measurement=Measurement.from_json(remote_doc["measurement"]),
                                 profile=remote_doc["profile"], predicted_ms=remote_doc["predicted_ms"],
                                 notes=remote_doc["notes"])
            where = f"{board.target.destination} ({info.host})"
            doc = result.to_json() | {"remote": {"url": board.target.url, **info.to_json(), "file": remote_doc["file"]}}
    if json_out:
        print_json(doc)
        return
    for note in result.notes:
        warn(note)
    m = result.measurement
    model = result.model
    console.print(f"{model.path}  {model.format} {model.precision}, input {'x'.join(map(str, model.input_shape))}, "
                  f"{result.backend} on {result.target}{' of ' + where if where else ''}, {result.threads} thread(s)",
                  markup=False, soft_wrap=True)
    if model.arch:
        console.print(f"arch {model.arch} (space {model.space})", markup=False, soft_wrap=True)
    table = Table(title_justify="left")
    for col in ("", "latency", "how"):
        table.add_column(col)
    table.add_row("measured", fmt_ms(m.median_ms),
                  f"median of {m.repeats} x {m.calls} call(s), IQR {m.q1_ms:.3g}-{m.q3_ms:.3g} ms, {m.timer}, {m.stop}")
    if result.predicted_ms is not None:
        table.add_row(f"predicted ({result.device})", fmt_ms(result.predicted_ms), f"profile {result.profile}")
        table.add_row("error", f"{result.error_pct:+.1f} %", "(measured - predicted) / predicted")
    console.print(table)
