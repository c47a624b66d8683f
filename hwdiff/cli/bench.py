"""``hwdiff bench-model``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwdiff.cli.render import console, fmt_ms, print_json, warn
from hwdiff.deploy.bench import bench_model as run_bench


def bench_model(
    file: Path = typer.Argument(..., help="Exported model: .onnx, .torchscript.pt or a TensorRT .engine."),
    device: str = typer.Option(None, help="Device whose profile predicts the latency [default: cpu, or cuda "
                                          "for GPU targets]."),
    backend: str = typer.Option(None, help="onnxruntime or onnxruntime-trt (ONNX), pytorch (TorchScript), "
                                           "tensorrt (engine) (default: by file format)."),
    target: str = typer.Option(None, help="cpu or cuda (default: cuda for engines and GPU devices, else cpu)."),
    threads: int = typer.Option(None, help="CPU threads (default: the profile's, else the device spec's)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Measure an exported model with the profiling timer and compare it with the device profile's prediction."""
    result = run_bench(file, device=device, backend=backend, target=target, threads=threads)
    if json_out:
        print_json(result.to_json())
        return
    for note in result.notes:
        warn(note)
    m = result.measurement
    model = result.model
    console.print(f"{model.path}  {model.format} {model.precision}, input {'x'.join(map(str, model.input_shape))}, "
                  f"{result.backend} on {result.target}, {result.threads} thread(s)", markup=False, soft_wrap=True)
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
