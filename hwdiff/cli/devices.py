"""``hwdiff devices``."""

from __future__ import annotations

import typer
from rich.table import Table

from hwdiff.cli.render import console, print_json, warn
from hwdiff.hardware import load_catalog, load_device_specs


def devices(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List target devices: shipped and user specs, with the spaces each has a profile for."""
    specs, problems = load_device_specs()
    catalog = load_catalog()
    for line in problems + catalog.problems:
        warn(line)
    spaces: dict[str, set[str]] = {}
    for profile in catalog.profiles:
        spaces.setdefault(profile.device, set()).add(profile.space)
    names = sorted(set(specs) | set(spaces))
    if json_out:
        print_json([
            {**(specs[n].to_json() if n in specs else {"name": n, "kind": "imported"}),
             "profiled_spaces": sorted(spaces.get(n, ()))}
            for n in names
        ])
        return
    table = Table(title="Devices", title_justify="left")
    for col in ("name", "kind", "description", "profiling", "profiles"):
        table.add_column(col)
    for n in names:
        spec = specs.get(n)
        if spec is None:
            table.add_row(n, "imported", "(no device spec; profile imported)", "", ", ".join(sorted(spaces[n])))
            continue
        p = spec.profiling
        how = f"{p.get('backend', '?')} {p.get('precision', '?')} b{p.get('batch_size', '?')}"
        name = n + (f" ({', '.join(spec.aliases)})" if spec.aliases else "")
        table.add_row(name, spec.kind, spec.description, how, ", ".join(sorted(spaces.get(n, ()))) or "-")
    console.print(table)
    console.print(f"{len(names)} devices. Details: hwdiff devices --json. Specs live in the package's devices/ "
                  "and in $HWDIFF_HOME/devices.", markup=False)
