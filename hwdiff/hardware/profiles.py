"""Device profiles: what a device's latency is for the architectures of a space, and the one store they live in.

Every profile is a portable JSON file (``schema_version``, provenance, units, its own validation)
behind one interface, ``Profile.predict(archs) -> latency in ms``. Kinds:

* ``table`` -- per-architecture measurements (shipped benchmark tables, imported CSVs);
* ``lut`` -- per-layer lookup tables measured by ``hwdiff profile`` (``hardware/lut.py``);
* ``model`` -- fitted regressions (added by later modules through ``register_profile_kind``).

The store (the end of this module) is the only place that names profile files, says where they
go, refuses to replace one without ``--force`` and finds them again: ``hwdiff profile`` (measured,
imported, ``--remote``), ``hwdiff profiles`` and every search go through it.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import importlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hwdiff.errors import HwdiffError
from hwdiff.hardware.latency_kind import LatencyKind
from hwdiff.hardware.profile_index import ProfileEntry, ProfileIndex
from hwdiff.storage import atomic_write_text, check_writable_dir, read_user_file, shipped_dir, user_dir

if TYPE_CHECKING:  # numpy and the spaces load when a profile is read, not when the catalog is listed
    import numpy as np

SCHEMA = "hwdiff.profile"
SCHEMA_VERSION = 1
# No network of any space takes 1,000 s: a figure above this is a unit error or a corrupt file.
MAX_LATENCY_MS = 1e6


def check_latencies_ms(values: Any, what: str) -> None:
    """Refuse figures no device produces (a ``ValueError``: ``read_profile`` names the file in one line)."""
    import numpy as np

    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iuf" or not (np.isfinite(array) & (array > 0)).all():
        raise ValueError(f"{what} must be positive finite numbers")
    if (array > MAX_LATENCY_MS).any():
        raise ValueError(f"{what} must be at most {MAX_LATENCY_MS:g} ms (no network takes 1,000 s: a unit error?)")


def _short_float(value: float) -> float:
    """Six significant digits: far below any measurement's noise, a third of the bytes."""
    return float(f"{value:.6g}")


class Profile(abc.ABC):
    kind: ClassVar[str]

    def __init__(self, device: str, space: str, dataset: str, provenance: dict[str, Any],
                 validation: dict[str, Any] | None = None, path: Path | None = None):
        self.device = device
        self.space = space
        self.dataset = dataset
        self.provenance = provenance
        self.validation = validation
        self.path = path

    @abc.abstractmethod
    def predict(self, archs: Sequence[str]) -> np.ndarray:
        """Latency in milliseconds of each architecture (canonical strings)."""

    @abc.abstractmethod
    def _payload(self) -> dict[str, Any]:
        """The kind-specific part of the JSON document."""

    @property
    def name(self) -> str:
        return self.path.name if self.path else profile_filename(self.device, self.space, self.kind)

    @property
    def latency_kind(self) -> LatencyKind:
        """What the milliseconds are (batch-1 latency, or per-image time from throughput at a batch)."""
        return LatencyKind.of(self.provenance)

    @property
    def summary(self) -> str:
        """One line on how the figures were obtained."""
        return str(self.provenance.get("source", ""))

    @property
    def created(self) -> dt.datetime | None:
        """When the figures were made (measured, imported or converted), if the provenance says."""
        for key in ("created", "imported", "converted"):
            value = self.provenance.get(key)
            if isinstance(value, str):
                try:
                    when = dt.datetime.fromisoformat(value)
                except ValueError:
                    continue
                return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
        return None

    @property
    def log_error_sd(self) -> float:
        """Expected spread, standard deviation of ``log(measured / predicted)``, of a network the profile did not
        measure: 0 for a measured table; else from the stated error as a normal's: the median relative error /
        0.6745 (robust to one wild held-out network), or where only the mean is stated, MAPE * sqrt(pi / 2)."""
        stated = self.validation or {}
        for key, per_sd in (("median_abs_error_pct", 0.6745), ("mape", math.sqrt(2 / math.pi))):
            value = stated.get(key)
            if self.kind != "table" and isinstance(value, (int, float)) and math.isfinite(value):
                return max(float(value), 0.0) / 100 / per_sd
        return 0.0

    @property
    def trusted(self) -> bool:
        """A measured table is its own ground truth; any other kind must carry its validation."""
        return self.kind == "table" or bool(self.validation)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "device": self.device,
            "space": self.space,
            "dataset": self.dataset,
            "unit": "ms",
            "provenance": self.provenance,
            "validation": self.validation,
            self.kind: self._payload(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False) + "\n"

    @property
    def sha256(self) -> str:
        """Hash of the profile's content (what a trained model records to detect a changed profile)."""
        return hashlib.sha256(self.dumps().encode()).hexdigest()

    def save(self, path: Path, force: bool = False) -> Path:
        """Write atomically; refuse to replace an existing file unless ``force``."""
        claim_profile_path(path, force)
        atomic_write_text(path, self.dumps())
        self.path = path
        return path


_KINDS: dict[str, Callable[[dict[str, Any], Path | None], Profile]] = {}
# Modules that register a kind, imported before the first profile is read (a listing from the index needs none).
KIND_MODULES = ("hwdiff.hardware.lut", "hwdiff.hardware.model_profile", "hwdiff.hardware.fewshot")


def register_profile_kind(kind: str):
    """Class decorator: ``cls.from_json(doc, path)`` reads profiles of ``kind``."""

    def wrap(cls):
        _KINDS[kind] = cls.from_json
        return cls

    return wrap


@register_profile_kind("table")
class TableProfile(Profile):
    """Per-architecture measurements: the whole space in its index order, or a list of archs."""

    kind = "table"

    def __init__(self, latencies: dict[str, float] | None = None, *, index_order: np.ndarray | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self._by_arch = latencies
        self._index_order = index_order

    @classmethod
    def from_index_order(cls, *, device: str, space: str, dataset: str, latencies_ms: Sequence[float],
                         provenance: dict[str, Any]) -> TableProfile:
        import numpy as np

        values = np.array([_short_float(v) for v in latencies_ms])
        return cls(index_order=values, device=device, space=space, dataset=dataset, provenance=provenance)

    @classmethod
    def from_archs(cls, *, device: str, space: str, dataset: str, latencies: dict[str, float],
                   provenance: dict[str, Any]) -> TableProfile:
        values = {a: _short_float(v) for a, v in latencies.items()}
        return cls(values, device=device, space=space, dataset=dataset, provenance=provenance)

    def __len__(self) -> int:
        return len(self._index_order) if self._index_order is not None else len(self._by_arch)

    def items(self) -> list[tuple[str, float]]:
        from hwdiff.spaces import get_space

        if self._index_order is not None:
            return list(zip(get_space(self.space).enumerate(), self._index_order.tolist()))
        return list(self._by_arch.items())

    def predict(self, archs: Sequence[str]) -> np.ndarray:
        import numpy as np

        from hwdiff.spaces import get_space

        space = get_space(self.space)
        if self._index_order is not None:
            return self._index_order[space.indices(list(archs))]
        out = np.empty(len(archs))
        for k, arch in enumerate(archs):
            value = self._by_arch.get(arch)
            if value is None:
                value = self._by_arch.get(space.canonical(arch))
            if value is None:
                raise HwdiffError(f"{arch} is not in the table profile {self.name} "
                                  f"({len(self)} architectures); measure it or use another profile")
            out[k] = value
        return out

    def covers(self, arch: str) -> bool:
        return self._index_order is not None or arch in self._by_arch

    def _payload(self) -> dict[str, Any]:
        if self._index_order is not None:
            from hwdiff.spaces import get_space

            space = get_space(self.space)
            return {"order": "space-index", "order_sha256": space.order_checksum,
                    "latency_ms": self._index_order.tolist()}
        return {"order": "archs", "archs": list(self._by_arch), "latency_ms": list(self._by_arch.values())}

    @classmethod
    def from_json(cls, doc: dict[str, Any], path: Path | None) -> TableProfile:
        import numpy as np

        from hwdiff.spaces import get_space

        table = doc["table"]
        common = dict(device=doc["device"], space=doc["space"], dataset=doc.get("dataset", ""),
                      provenance=doc.get("provenance", {}), validation=doc.get("validation"), path=path)
        values = np.asarray(table["latency_ms"])
        check_latencies_ms(values, "latencies")
        values = values.astype(float)
        if table.get("order") == "space-index":
            space = get_space(doc["space"])
            if len(values) != space.size or table.get("order_sha256") != space.order_checksum:
                raise ValueError(f"not in the {space.name} index order of this hwdiff version")
            return cls(index_order=values, **common)
        archs = table["archs"]
        if len(archs) != len(values):
            raise ValueError("'archs' and 'latency_ms' differ in length")
        return cls(dict(zip(archs, values.tolist())), **common)


def read_profile(path: Path) -> Profile:
    """Load one profile file; raise ``HwdiffError`` naming the file when it is unusable."""
    raw = read_user_file(path, "profile ")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HwdiffError(f"profile {path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise HwdiffError(f"profile {path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise HwdiffError(f"profile {path}: not an hwdiff profile (no \"schema\": \"{SCHEMA}\")")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise HwdiffError(f"profile {path}: schema version {doc.get('schema_version')!r}; "
                          f"this hwdiff reads version {SCHEMA_VERSION}")
    kind = doc.get("kind")
    for module in KIND_MODULES:
        importlib.import_module(module)
    if kind not in _KINDS:
        raise HwdiffError(f"profile {path}: unknown kind {kind!r}; accepted: {', '.join(_KINDS)}")
    try:
        return _KINDS[kind](doc, Path(path))
    except (KeyError, TypeError, ValueError, HwdiffError) as exc:
        raise HwdiffError(f"profile {path}: corrupt {kind} profile ({exc})") from None


@dataclass
class ProfileCatalog:
    """Every readable profile's entry (the user's first, then the shipped ones) and the unreadable files."""

    profiles: list[ProfileEntry]
    problems: list[str]

    def for_space(self, space: str) -> list[ProfileEntry]:
        return [p for p in self.profiles if p.space == space]

    def unusable(self, device: str, space: str) -> str | None:
        """The line of an unreadable file named like a profile of ``device`` for ``space``, if there is one."""
        prefix = f"{device}-{space}-"
        for line in self.problems:
            where = line.removeprefix("profile ").split(": ", 1)[0]
            if line.startswith("profile ") and Path(where).name.startswith(prefix):
                return line
        return None

    def find(self, device: str, space: str) -> Profile:
        """The profile of ``device`` for ``space``: the newest validated one (tables count as validated).

        Unvalidated profiles come last; on a tie the user's profiles win over shipped ones.
        """
        unusable = self.unusable(device, space)
        if unusable:
            raise HwdiffError(f"{unusable}; fix or remove that file (hwdiff does not fall back to another "
                              f"{device} profile while it is there)")
        oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        candidates = [p for p in self.profiles if p.device == device and p.space == space]
        if candidates:
            return read_profile(max(candidates, key=lambda p: (p.trusted, p.created or oldest)).path)
        known = sorted({p.device for p in self.for_space(space)})
        raise HwdiffError(f"no profile for device {device!r} and space {space!r}; devices with a "
                          f"{space} profile: {', '.join(known) or 'none'} "
                          f"(measure one on the device with `hwdiff profile --device {device} --space {space}`, "
                          "or import measurements with `... --from-table FILE`)")


# -- the store ------------------------------------------------------------------------------------
def profile_filename(device: str, space: str, *tags: str) -> str:
    """``<device>-<space>-<tags...>.json``: ``table`` for imports; backend, precision, ``b<batch>`` when measured."""
    from hwdiff.hardware.devices import check_device_name

    check_device_name(device)
    return "-".join((device, space, *tags)) + ".json"


def profile_dirs() -> list[Path]:
    """Where profiles are looked up: the user's store first, then the shipped ones."""
    return [user_dir("profiles"), shipped_dir("profiles")]


def profile_path(filename: str, out: Path | None = None) -> Path:
    """Where a new profile goes: ``out`` (``--out``) if given, else the user's store (a plain file name only:
    ``filename`` may come from another machine, ``--remote``)."""
    if out is None and (Path(filename).name != filename or filename.startswith(".")):
        raise HwdiffError(f"profile file name {filename!r} is not a plain file name; nothing was written")
    return Path(out) if out is not None else user_dir("profiles") / filename


def claim_profile_path(path: Path, force: bool) -> None:
    """Refuse, before any work, to write a profile over an existing one (unless ``force``) or into a non-folder."""
    if path.is_dir():
        raise HwdiffError(f"--out {path} is a folder; give the profile's file name (ending in .json)")
    if path.exists() and not force:
        raise HwdiffError(f"profile {path} already exists; pass --force to replace it")
    if path.parent.exists() and not path.parent.is_dir():
        raise HwdiffError(f"--out {path}: {path.parent} is not a folder")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # created on save; checked where it would be made
        folder = folder.parent
    check_writable_dir(folder, "--out")


def partial_path(target: Path) -> Path:
    """The side file of an unfinished measurement of ``target`` (``hwdiff profile --resume``)."""
    return target.with_name(target.name + ".partial")


def locate_profile(name: str) -> Path:
    """A profile file named on the command line: a path, or a file name (``.json`` optional) in the store."""
    path = Path(name)
    if path.exists():
        return path
    for folder in profile_dirs():
        for candidate in (folder / name, folder / f"{name}.json"):
            if candidate.exists():
                return candidate
    raise HwdiffError(f"no profile file {name!r}; give a path or a name listed by `hwdiff profiles`")


def load_catalog() -> ProfileCatalog:
    """Every profile file's entry, read and checked once per file version (``profile_index.py``)."""
    index = ProfileIndex.open()
    profiles: list[ProfileEntry] = []
    problems: list[str] = []
    for folder in profile_dirs():
        if folder.is_dir():
            entries, broken = index.scan(folder, read_profile)
            profiles += entries
            problems += broken
    index.save()
    return ProfileCatalog(profiles, problems)


def find_profile(device: str, space: str, path: Path | None = None) -> Profile:
    """The profile for ``device`` (a name or alias) on ``space``, or ``HwdiffError`` saying what exists.

    ``path`` names a profile file explicitly (``--profile FILE``); it must match device and space.
    """
    from hwdiff.hardware.devices import load_device_specs, resolve_device_name

    if path is not None:
        profile = read_profile(Path(path))
        if profile.space != space:
            raise HwdiffError(f"profile {path} is for space {profile.space!r}, not {space!r}")
        return profile

    specs, _ = load_device_specs()
    name = resolve_device_name(device, specs) or device
    catalog = load_catalog()
    known = name in specs or any(p.device == name for p in catalog.profiles)
    if not known and not catalog.unusable(name, space):  # an unreadable profile of the name is named in find
        raise HwdiffError(f"unknown device {device!r}; accepted: "
                          f"{', '.join(sorted(set(specs) | {p.device for p in catalog.profiles}))}")
    return catalog.find(name, space)
