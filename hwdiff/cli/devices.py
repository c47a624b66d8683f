"""``hwdiff devices``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from hwdiff.cli.render import console, print_json, warn

if TYPE_CHECKING:
    from hwdiff.hardware.latency_kind import LatencyKind


def _value(value: Any) -> str:
    """A fact as table text (escaped: install hints like `hwdiff[trt]` are not rich markup)."""
    if isinstance(value, dict) and set(value) == {"missing"}:
        text = f"missing: {value['missing']}"
    elif isinstance(value, dict) and set(value) == {"output"}:
        text = value["output"]
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return escape(text)


def _print_local(facts: dict[str, Any]) -> None:
    table = Table(title=f"This machine ({facts['host']}, {facts['collected']})", title_justify="left",
                  show_header=False)
    table.add_column("fact", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("os", escape(facts["os"]))
    for section in ("cpu", "jetson", "software"):
        for key, value in facts[section].items():
            table.add_row(f"{section}.{key}", _value(value))
    nvidia = facts["nvidia"]
    if "missing" in nvidia:
        table.add_row("nvidia", _value(nvidia))
    else:
        table.add_row("nvidia.driver", f"{nvidia['driver']} (CUDA {nvidia['cuda_driver']})")
        for gpu in nvidia["gpus"]:
            for key, value in gpu.items():
                if key != "index":
                    table.add_row(f"gpu{gpu['index']}.{key}", _value(value))
    for target, status in facts["backends"].items():
        for name, line in status.items():
            table.add_row(f"backend.{name} ({target})", escape(line))
    console.print(table)


def devices(
    local: bool = typer.Option(False, "--local", help="Print this machine's facts (CPU, NVIDIA GPUs, Jetson, "
                               "software, usable backends) instead of the device list."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List target devices: shipped and user specs, with the spaces each has a profile for."""
    if local:
        from hwdiff.hardware.backends import TARGETS, backend_availability
        from hwdiff.hardware.facts import local_facts

        facts = local_facts()
        facts["backends"] = {target: backend_availability(target) for target in TARGETS}
        if json_out:
            print_json(facts)
        else:
            _print_local(facts)
        return
    from hwdiff.hardware.devices import load_device_specs
    from hwdiff.hardware.profiles import load_catalog

    specs, problems = load_device_specs()
    catalog = load_catalog()
    for line in problems + catalog.problems:
        warn(line)
    spaces: dict[str, set[str]] = {}
    kinds: dict[str, dict[str, LatencyKind]] = {}  # device -> space -> what its first profile's ms are
    for profile in catalog.profiles:
        spaces.setdefault(profile.device, set()).add(profile.space)
        kinds.setdefault(profile.device, {}).setdefault(profile.space, profile.latency_kind)
    names = sorted(set(specs) | set(spaces))
    if json_out:
        print_json([
            {**(specs[n].to_json() if n in specs else {"name": n, "kind": "imported"}),
             "profiled_spaces": sorted(spaces.get(n, ())),
             "latency_kinds": {space: kind.to_json() for space, kind in sorted(kinds.get(n, {}).items())}}
            for n in names
        ])
        return

    def profiled(n: str) -> str:
        return ", ".join(f"{space} ({kind.short})" for space, kind in sorted(kinds.get(n, {}).items())) or "-"

    table = Table(title="Devices", title_justify="left")
    for col in ("name", "kind", "description", "profiling", "profiles"):
        table.add_column(col)
    for n in names:
        spec = specs.get(n)
        if spec is None:
            table.add_row(n, "imported", "(no device spec; profile imported)", "", profiled(n))
            continue
        p = spec.profiling
        how = f"{p.get('backend', '?')} {p.get('precision', '?')} b{p.get('batch_size', '?')}"
        name = n + (f" ({', '.join(spec.aliases)})" if spec.aliases else "")
        table.add_row(name, spec.kind, spec.description, how, profiled(n))
    console.print(table)
    console.print(f"{len(names)} devices. Details: hwdiff devices --json. Specs live in the package's devices/ "
                  "and in $HWDIFF_HOME/devices.", markup=False)
