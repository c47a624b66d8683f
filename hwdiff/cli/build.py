"""``hwdiff build``."""

from __future__ import annotations

import typer
from rich.table import Table

from hwdiff.cli.render import console, fmt_count, print_json
from hwdiff.deploy.build import summarize_network


def build(
    arch: str = typer.Argument(..., help="Architecture string of the space."),
    space: str = typer.Option("nb201", help="Search space."),
    dataset: str = typer.Option("cifar10", help="Dataset: sets classes and input size."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Build an architecture as a timm network and print its summary (params, MACs, layers)."""
    summary = summarize_network(arch, space, dataset)
    if json_out:
        print_json(summary.to_json())
        return
    c = summary.complexity
    console.print(f"[bold]{summary.arch}[/]  space={space} dataset={dataset} "
                  f"timm=timm.create_model({summary.timm_name!r}, arch=...)")
    console.print(f"input {tuple(summary.input_size)}, {summary.num_classes} classes, "
                  f"params {c.params:,} ({c.params / 1e6:.3f} M), MACs {c.macs:,} ({c.macs / 1e6:.2f} M)",
                  markup=False)
    table = Table(title_justify="left")
    for col, justify in (("layer", "left"), ("type", "left"), ("output", "left"), ("params", "right"),
                         ("MACs", "right")):
        table.add_column(col, justify=justify)
    for layer in c.layers:
        table.add_row(layer.name, layer.type, "x".join(map(str, layer.output_shape)), fmt_count(layer.params),
                      fmt_count(layer.macs))
    console.print(table)
