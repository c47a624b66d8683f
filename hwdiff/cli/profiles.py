"""``hwdiff profiles`` (list, show) and ``hwdiff profile`` (import; measure)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwdiff.cli.render import console, print_json, warn
from hwdiff.errors import HwdiffError
from hwdiff.hardware import load_catalog, read_profile
from hwdiff.hardware.profiles import Profile, profile_dirs
from hwdiff.hardware.table_import import import_latency_table
from hwdiff.spaces import get_space

profiles_app = typer.Typer(help="List and inspect device profiles.", no_args_is_help=False)


def _entries(profile: Profile) -> str:
    return str(len(profile)) if hasattr(profile, "__len__") else "-"


def _validation(profile: Profile) -> str:
    v = profile.validation
    if not v:
        return "-"
    return f"MAPE {v.get('mape', float('nan')):.1f}%, ±10% {v.get('within_10pct', float('nan')):.0%}"


@profiles_app.callback(invoke_without_command=True)
def list_profiles(
    ctx: typer.Context,
    space: str = typer.Option(None, help="Only profiles of this space."),
    device: str = typer.Option(None, help="Only profiles of this device."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List device profiles (the user's first, then the shipped ones)."""
    if ctx.invoked_subcommand:
        return
    if space:
        get_space(space)
    catalog = load_catalog()
    for line in catalog.problems:
        warn(line)
    rows = [p for p in catalog.profiles if (not space or p.space == space) and (not device or p.device == device)]
    if json_out:
        print_json([{"file": str(p.path), "device": p.device, "space": p.space, "kind": p.kind,
                     "dataset": p.dataset, "entries": len(p) if hasattr(p, "__len__") else None,
                     "source": p.summary, "validation": p.validation} for p in rows])
        return
    table = Table(title="Profiles", title_justify="left")
    for col in ("device", "space", "kind", "archs", "source", "validation", "file"):
        table.add_column(col, overflow="fold")
    for p in rows:
        table.add_row(p.device, p.space, p.kind, _entries(p), p.summary, _validation(p), p.name)
    console.print(table)
    console.print(f"{len(rows)} profiles from {', '.join(str(d) for d in profile_dirs())}", markup=False)


def _resolve_profile_path(name: str) -> Path:
    path = Path(name)
    if path.exists():
        return path
    for folder in profile_dirs():
        for candidate in (folder / name, folder / f"{name}.json"):
            if candidate.exists():
                return candidate
    raise HwdiffError(f"no profile file {name!r}; give a path or a name listed by `hwdiff profiles`")


@profiles_app.command("show")
def show_profile(
    name: str = typer.Argument(..., help="A profile file, or its name as `hwdiff profiles` lists it."),
    json_out: bool = typer.Option(False, "--json", help="Print the profile's metadata as JSON."),
) -> None:
    """Print one profile: device, space, provenance and validation."""
    profile = read_profile(_resolve_profile_path(name))
    doc = profile.to_json()
    doc.pop(profile.kind, None)
    doc["entries"] = len(profile) if hasattr(profile, "__len__") else None
    doc["file"] = str(profile.path)
    if json_out:
        print_json(doc)
        return
    table = Table(title=f"Profile {profile.name}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key in ("device", "space", "dataset", "kind", "unit", "entries", "file"):
        table.add_row(key, str(doc.get(key, "")))
    for key, value in (profile.provenance or {}).items():
        table.add_row(f"provenance.{key}", str(value))
    if profile.validation:
        for key, value in profile.validation.items():
            table.add_row(f"validation.{key}", str(value))
    else:
        table.add_row("validation", "none (a measured table is its own ground truth)")
    console.print(table)


def profile(
    device: str = typer.Option(..., help="Device name (new names are fine when importing)."),
    space: str = typer.Option("nb201", help="Search space."),
    from_table: Path = typer.Option(None, "--from-table", help="Import a CSV with columns arch,latency_ms."),
    dataset: str = typer.Option("", help="Dataset/input the measurements were made for (recorded)."),
    out: Path = typer.Option(None, help="Write the profile here instead of $HWDIFF_HOME/profiles."),
    force: bool = typer.Option(False, help="Replace an existing profile."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build a device profile: import a per-architecture table (--from-table)."""
    get_space(space)
    if from_table is None:
        raise HwdiffError("nothing to do: give --from-table FILE.csv (columns arch,latency_ms) to import "
                          "measurements")
    result = import_latency_table(from_table, device=device, space=space, dataset=dataset, out=out, force=force)
    if json_out:
        print_json({"file": str(result.path), "device": device, "space": space, "entries": len(result)})
        return
    console.print(f"imported {len(result)} architectures for device {device} ({space}) into {result.path}",
                  markup=False)
