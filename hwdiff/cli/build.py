"""``hwdiff build``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from hwdiff.cli.render import console, fmt_count, fmt_ms, print_json

if TYPE_CHECKING:
    from hwdiff.deploy.build import NetworkSummary


def _accuracy_line(summary: NetworkSummary) -> str:
    a = summary.accuracy
    std = f" ± {a.std:.2%}" if a.std is not None else ""
    return f"accuracy {a.value:.2%}{std}: {a.metric} [{a.source}]"


def _latency_line(summary: NetworkSummary) -> str:
    lat = summary.latency
    v = lat.validation or {}
    check = f", held-out MAPE {v['mape']:.1f} %" if "mape" in v else ""
    return f"latency on {lat.device}: {fmt_ms(lat.ms)} ({lat.kind} profile {lat.profile}{check})"


def build(
    arch: str = typer.Argument(..., help="Architecture string of the space."),
    space: str = typer.Option("nb201", help="Search space."),
    dataset: str = typer.Option(None, help="Dataset: sets classes and input size (default: the space's first, "
                                           "cifar10 for nb201, imagenet for effnet)."),
    device: str = typer.Option(None, help="Also predict latency on this device (see `hwdiff devices`)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Build an architecture as a timm network and print its summary (params, MACs, accuracy, layers)."""
    from hwdiff.deploy.build import summarize_network

    summary = summarize_network(arch, space, dataset, device)
    if json_out:
        print_json(summary.to_json())
        return
    c = summary.complexity
    console.print(f"[bold]{summary.arch}[/]  space={space} dataset={summary.dataset} "
                  f"timm=timm.create_model({summary.timm_name!r}, arch=...)")
    console.print(f"input {tuple(summary.input_size)}, {summary.num_classes} classes, "
                  f"params {c.params:,} ({c.params / 1e6:.3f} M), MACs {c.macs:,} ({c.macs / 1e6:.2f} M)",
                  markup=False)
    details = summary.details
    if "macs_thop" in details:
        console.print(f"MACs as Accel-NASBench counts them (thop: also BatchNorm and pooling): "
                      f"{details['macs_thop'] / 1e6:.2f} M", markup=False)
    if "timm_blocks" in details:
        console.print(f"timm blocks: {' '.join(details['timm_blocks'])}", markup=False)
    console.print(_accuracy_line(summary), markup=False)
    if summary.latency is not None:
        console.print(_latency_line(summary), markup=False)
    table = Table(title_justify="left")
    for col, justify in (("layer", "left"), ("type", "left"), ("output", "left"), ("params", "right"),
                         ("MACs", "right")):
        table.add_column(col, justify=justify)
    for layer in c.layers:
        table.add_row(layer.name, layer.type, "x".join(map(str, layer.output_shape)), fmt_count(layer.params),
                      fmt_count(layer.macs))
    console.print(table)
