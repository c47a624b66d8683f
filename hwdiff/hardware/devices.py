"""Target devices: one TOML spec each, shipped in ``devices/`` or the user's ``$HWDIFF_HOME/devices``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwdiff.errors import HwdiffError
from hwdiff.storage import shipped_dir, user_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEVICE_KINDS = ("server-gpu", "edge-gpu", "cpu", "mobile", "accelerator")


@dataclass(frozen=True)
class TableRef:
    """A shipped measurement table that belongs to a device."""

    space: str
    file: str
    dataset: str
    source: str
    licence: str


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    kind: str
    description: str
    profiling: dict[str, Any]
    notes: str = ""
    aliases: tuple[str, ...] = ()
    tables: tuple[TableRef, ...] = ()
    path: Path | None = field(default=None, compare=False)

    def table(self, space: str) -> TableRef | None:
        return next((t for t in self.tables if t.space == space), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "description": self.description,
            "aliases": list(self.aliases), "profiling": self.profiling, "notes": self.notes,
            "tables": [t.__dict__ for t in self.tables], "path": str(self.path) if self.path else None,
        }


def parse_device_spec(path: Path) -> DeviceSpec:
    """Read one ``devices/NAME.toml``; raise ``HwdiffError`` naming the file when it is unusable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HwdiffError(f"device spec {path}: not readable TOML ({exc})") from None
    for key in ("name", "kind", "description", "profiling"):
        if key not in data:
            raise HwdiffError(f"device spec {path}: missing key {key!r}")
    if data["name"] != path.stem:
        raise HwdiffError(f"device spec {path}: name {data['name']!r} differs from the file name")
    if data["kind"] not in DEVICE_KINDS:
        raise HwdiffError(f"device spec {path}: kind {data['kind']!r}; accepted: {', '.join(DEVICE_KINDS)}")
    if not isinstance(data["profiling"], dict):
        raise HwdiffError(f"device spec {path}: [profiling] must be a table")
    try:
        tables = tuple(
            TableRef(space=space, file=t["file"], dataset=t.get("dataset", ""),
                     source=t.get("source", ""), licence=t.get("licence", ""))
            for space, t in data.get("tables", {}).items()
        )
    except (KeyError, AttributeError, TypeError):
        raise HwdiffError(f"device spec {path}: each [tables.SPACE] needs a 'file'") from None
    return DeviceSpec(
        name=data["name"], kind=data["kind"], description=data["description"],
        profiling=dict(data["profiling"]), notes=data.get("notes", ""),
        aliases=tuple(data.get("aliases", ())), tables=tables, path=path,
    )


def _load_dir(folder: Path, specs: dict[str, DeviceSpec], problems: list[str]) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.toml")):
        try:
            spec = parse_device_spec(path)
        except HwdiffError as exc:
            problems.append(str(exc))
            continue
        specs.setdefault(spec.name, spec)


def load_device_specs() -> tuple[dict[str, DeviceSpec], list[str]]:
    """All device specs (the user's first, then the shipped ones) and one line per unusable file."""
    specs: dict[str, DeviceSpec] = {}
    problems: list[str] = []
    _load_dir(user_dir("devices"), specs, problems)
    _load_dir(shipped_dir("devices"), specs, problems)
    return specs, problems


def shipped_device_specs() -> dict[str, DeviceSpec]:
    specs: dict[str, DeviceSpec] = {}
    problems: list[str] = []
    _load_dir(shipped_dir("devices"), specs, problems)
    if problems:
        raise HwdiffError(problems[0])
    return specs


def resolve_device_name(name: str, specs: dict[str, DeviceSpec]) -> str | None:
    """The spec name for ``name`` or one of its aliases, or ``None``."""
    if name in specs:
        return name
    return next((s.name for s in specs.values() if name in s.aliases), None)


def get_device(name: str) -> DeviceSpec:
    specs, _ = load_device_specs()
    resolved = resolve_device_name(name, specs)
    if resolved is None:
        raise HwdiffError(f"unknown device {name!r}; accepted: {', '.join(sorted(specs))}")
    return specs[resolved]
