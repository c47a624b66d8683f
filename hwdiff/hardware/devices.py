"""Target devices: one TOML spec each, shipped in ``devices/`` or the user's ``$HWDIFF_HOME/devices``."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwdiff.errors import HwdiffError
from hwdiff.storage import read_user_file, shipped_dir, user_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEVICE_KINDS = ("server-gpu", "edge-gpu", "cpu", "mobile", "accelerator")
# A device name becomes part of file names in the store: a plain identifier, never a path.
DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_device_name(name: str) -> None:
    """Refuse a name that is not a plain identifier (``../x``, ``/abs``, empty, 300 characters)."""
    if not isinstance(name, str) or not DEVICE_NAME.fullmatch(name) or ".." in name:
        shown = name if len(str(name)) <= 80 else f"{str(name)[:40]}... ({len(name)} characters)"
        raise HwdiffError(f"--device {shown!r}: a device name is a plain identifier matching "
                          f"{DEVICE_NAME.pattern} (no paths, no '..')")


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
    machine: str = ""  # words in the hardware's name that identify it (device_guard.py); "" = any machine
    aliases: tuple[str, ...] = ()
    tables: tuple[TableRef, ...] = ()
    path: Path | None = field(default=None, compare=False)

    def table(self, space: str) -> TableRef | None:
        return next((t for t in self.tables if t.space == space), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "description": self.description,
            "aliases": list(self.aliases), "profiling": self.profiling, "notes": self.notes,
            "machine": self.machine or None,
            "tables": [t.__dict__ for t in self.tables], "path": str(self.path) if self.path else None,
        }


# Accepted keys and their types; anything else in a spec is a typo and is named with its line.
SPEC_KEYS: dict[str, type] = {
    "name": str, "kind": str, "description": str, "aliases": list, "notes": str, "machine": str, "profiling": dict,
    "tables": dict,
}
PROFILING_KEYS: dict[str, type] = {"backend": str, "precision": str, "batch_size": int, "threads": int}
TABLE_KEYS: dict[str, type] = {"file": str, "dataset": str, "source": str, "licence": str}
_KEY_LINE = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")


def _key_line(text: str, table: tuple[str, ...], key: str) -> int | None:
    """1-based line where ``key`` of ``[table]`` is set (``table == ()``: top level), if it can be found."""
    current: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("["):
            current = tuple(part.strip().strip("\"'") for part in stripped.strip("[]").split("."))
            if current[: len(table) + 1] == (*table, key):
                return number
            continue
        match = _KEY_LINE.match(line)
        if match:
            path = current + tuple(part.strip("\"'") for part in match.group(1).split("."))
            if path[: len(table) + 1] == (*table, key):
                return number
    return None


class _SpecChecker:
    """Checks one parsed spec against the accepted keys; every message names the file and line."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def fail(self, message: str, table: tuple[str, ...] = (), key: str | None = None) -> HwdiffError:
        line = _key_line(self.text, table, key) if key else None
        where = f"{self.path} line {line}" if line else str(self.path)
        return HwdiffError(f"device spec {where}: {message}")

    def check(self, data: dict[str, Any], accepted: dict[str, type], table: tuple[str, ...] = ()) -> None:
        section = f"[{'.'.join(table)}]" if table else "the top level"
        for key, value in data.items():
            if key not in accepted:
                raise self.fail(f"unknown key {key!r} in {section}; accepted: {', '.join(accepted)}", table, key)
            expected = accepted[key]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                names = {str: "a string", int: "an integer", list: "a list", dict: "a table"}
                raise self.fail(f"{key!r} in {section} must be {names[expected]}, got {value!r}", table, key)


def parse_device_spec(path: Path) -> DeviceSpec:
    """Read one ``devices/NAME.toml``; raise ``HwdiffError`` naming the file (and line) when it is unusable."""
    try:
        text = read_user_file(path, "device spec ", 1 << 20).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HwdiffError(f"device spec {path}: cannot be read ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        if where:
            raise HwdiffError(f"device spec {path} line {where.group(1)}: not valid TOML: {message} "
                              f"(column {where.group(2)})") from None
        raise HwdiffError(f"device spec {path}: not valid TOML: {message}") from None
    checker = _SpecChecker(path, text)
    checker.check(data, SPEC_KEYS)
    for key in ("name", "kind", "description", "profiling"):
        if key not in data:
            raise HwdiffError(f"device spec {path}: missing key {key!r}")
    if data["name"] != path.stem:
        raise checker.fail(f"name {data['name']!r} differs from the file name", key="name")
    if data["kind"] not in DEVICE_KINDS:
        raise checker.fail(f"kind {data['kind']!r}; accepted: {', '.join(DEVICE_KINDS)}", key="kind")
    if not all(isinstance(a, str) for a in data.get("aliases", ())):
        raise checker.fail("aliases must be a list of strings", key="aliases")
    profiling = data["profiling"]
    checker.check(profiling, PROFILING_KEYS, ("profiling",))
    if profiling.get("batch_size", 1) < 1:
        raise checker.fail("batch_size must be at least 1", ("profiling",), "batch_size")
    if profiling.get("threads", 0) < 0:
        raise checker.fail("threads must be 0 (one per physical core) or more", ("profiling",), "threads")
    tables = []
    for space, table in data.get("tables", {}).items():
        if not isinstance(table, dict):
            raise checker.fail(f"[tables.{space}] must be a table with a 'file'", ("tables",), space)
        checker.check(table, TABLE_KEYS, ("tables", space))
        if "file" not in table:
            raise checker.fail(f"[tables.{space}] needs a 'file'", ("tables",), space)
        tables.append(TableRef(space=space, file=table["file"], dataset=table.get("dataset", ""),
                               source=table.get("source", ""), licence=table.get("licence", "")))
    return DeviceSpec(
        name=data["name"], kind=data["kind"], description=data["description"],
        profiling=dict(profiling), notes=data.get("notes", ""), machine=data.get("machine", "").strip(),
        aliases=tuple(data.get("aliases", ())), tables=tuple(tables), path=path,
    )


def _load_dir(folder: Path, specs: dict[str, DeviceSpec], broken: dict[str, str]) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.toml")):
        try:
            spec = parse_device_spec(path)
        except HwdiffError as exc:
            broken.setdefault(path.stem, str(exc))
            continue
        specs.setdefault(spec.name, spec)


def _load_all() -> tuple[dict[str, DeviceSpec], dict[str, str]]:
    specs: dict[str, DeviceSpec] = {}
    broken: dict[str, str] = {}
    _load_dir(user_dir("devices"), specs, broken)
    _load_dir(shipped_dir("devices"), specs, broken)
    return specs, broken


def load_device_specs() -> tuple[dict[str, DeviceSpec], list[str]]:
    """All device specs (the user's first, then the shipped ones) and one line per unusable file."""
    specs, broken = _load_all()
    return specs, list(broken.values())


def shipped_device_specs() -> dict[str, DeviceSpec]:
    specs: dict[str, DeviceSpec] = {}
    broken: dict[str, str] = {}
    _load_dir(shipped_dir("devices"), specs, broken)
    if broken:
        raise HwdiffError(next(iter(broken.values())))
    return specs


def resolve_device_name(name: str, specs: dict[str, DeviceSpec]) -> str | None:
    """The spec name for ``name`` or one of its aliases, or ``None``."""
    if name in specs:
        return name
    return next((s.name for s in specs.values() if name in s.aliases), None)


def get_device(name: str) -> DeviceSpec:
    """The spec of ``name`` (or an alias); a broken spec file of that name is reported, not skipped."""
    specs, broken = _load_all()
    resolved = resolve_device_name(name, specs)
    if resolved is None:
        if name in broken:
            raise HwdiffError(broken[name])
        raise HwdiffError(f"unknown device {name!r}; accepted: {', '.join(sorted(specs))}")
    return specs[resolved]
