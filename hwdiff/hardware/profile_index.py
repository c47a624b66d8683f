"""The profile index: the header of every profile file (or why it is unusable), cached between runs.

Listing profiles (``hwdiff profiles``, ``hwdiff devices``) and choosing one (``find_profile``)
need only a file's header, but knowing that a file is usable means reading and checking all its
figures (a shipped nb201 table holds 15,625 latencies, checked against the space's index order):
for the 30 shipped profiles, longer than the rest of ``hwdiff devices``. So each file is read and
checked once; its ``ProfileEntry``, or the line saying why it is unusable, is kept in
``$HWDIFF_HOME/cache/profile-index.json`` under the file's identity (device, inode, size,
modification and change times) and hwdiff's version, and a file whose identity changed is read
again. A file changed within the last ``SETTLE_SECONDS`` is not kept (a rewrite of the same size
within the file system's clock tick would look unchanged). Where the store is not writable,
nothing is kept and every file is read each time.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.hardware.latency_kind import LatencyKind
from hwdiff.storage import atomic_write_text, user_dir

if TYPE_CHECKING:
    from hwdiff.hardware.profiles import Profile

INDEX_FORMAT = 2  # 2: entries carry latency_kind
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class ProfileEntry:
    """What listing and choosing need of one profile file: what it is for, how it was made, how far to trust it."""

    path: Path
    device: str
    space: str
    kind: str
    dataset: str
    summary: str
    validation: dict[str, Any] | None
    trusted: bool
    created: dt.datetime | None
    entries: int | None  # architectures (table) or layers (lut); None for kinds without a count
    latency_kind: LatencyKind  # what the milliseconds are

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def of(cls, profile: Profile) -> ProfileEntry:
        return cls(path=profile.path, device=profile.device, space=profile.space, kind=profile.kind,
                   dataset=profile.dataset, summary=profile.summary, validation=profile.validation,
                   trusted=profile.trusted, created=profile.created,
                   entries=len(profile) if hasattr(profile, "__len__") else None,
                   latency_kind=profile.latency_kind)

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "space": self.space, "kind": self.kind, "dataset": self.dataset,
                "summary": self.summary, "validation": self.validation, "trusted": self.trusted,
                "created": self.created.isoformat() if self.created else None, "entries": self.entries,
                "latency_kind": self.latency_kind.to_json()}

    @classmethod
    def from_json(cls, path: Path, doc: dict[str, Any]) -> ProfileEntry:
        created = dt.datetime.fromisoformat(doc["created"]) if doc["created"] else None
        return cls(path=path, device=doc["device"], space=doc["space"], kind=doc["kind"], dataset=doc["dataset"],
                   summary=doc["summary"], validation=doc["validation"], trusted=doc["trusted"], created=created,
                   entries=doc["entries"], latency_kind=LatencyKind.from_json(doc["latency_kind"]))


def _identity(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class ProfileIndex:
    """The cached entries, one group per profile folder; ``scan`` a folder, then ``save``."""

    def __init__(self, path: Path):
        self.path = path
        self.folders = self._load()
        self.changed = False

    @classmethod
    def open(cls) -> ProfileIndex:
        return cls(user_dir("cache") / "profile-index.json")

    def _load(self) -> dict[str, dict[str, Any]]:
        """The saved groups; an unreadable, foreign or other-version index counts as empty."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        if not isinstance(doc, dict) or doc.get("format") != INDEX_FORMAT or doc.get("hwdiff") != __version__:
            return {}
        folders = doc.get("folders")
        return folders if isinstance(folders, dict) else {}

    def scan(self, folder: Path, read: Callable[[Path], Profile]) -> tuple[list[ProfileEntry], list[str]]:
        """The entry of each ``*.json`` in ``folder`` (by name) and one line per unusable file; ``read`` reads
        (and checks) the files the index does not know as they are now."""
        old = self.folders.get(str(folder))
        old = old if isinstance(old, dict) else {}
        group: dict[str, Any] = {}
        entries: list[ProfileEntry] = []
        problems: list[str] = []
        settled_before = time.time_ns() - int(SETTLE_SECONDS * 1e9)
        for path in sorted(folder.glob("*.json")):
            identity = _identity(path)
            record = old.get(path.name)
            outcome = self._cached(path, identity, record)
            if outcome is None:
                record = self._read(path, read)
                outcome = self._outcome(path, record)
            if identity is not None and max(identity[3:]) < settled_before:
                group[path.name] = {**record, "identity": identity}
            if isinstance(outcome, ProfileEntry):
                entries.append(outcome)
            else:
                problems.append(outcome)
        if group != old:
            self.folders[str(folder)] = group
            self.changed = True
        return entries, problems

    @staticmethod
    def _outcome(path: Path, record: dict[str, Any]) -> ProfileEntry | str:
        """The entry a record keeps, or its line saying why the file is unusable."""
        problem = record.get("problem")
        return problem if isinstance(problem, str) else ProfileEntry.from_json(path, record["entry"])

    @classmethod
    def _cached(cls, path: Path, identity: list[int] | None, record: Any) -> ProfileEntry | str | None:
        """What the index knows of ``path`` as it is now; ``None``: it must be read."""
        if identity is None or not isinstance(record, dict) or record.get("identity") != identity:
            return None
        try:
            return cls._outcome(path, record)
        except (KeyError, TypeError, ValueError):
            return None

    @staticmethod
    def _read(path: Path, read: Callable[[Path], Profile]) -> dict[str, Any]:
        try:
            return {"entry": ProfileEntry.of(read(path)).to_json()}
        except HwdiffError as exc:
            return {"problem": str(exc)}

    def save(self) -> None:
        """Write the index if a scan changed it; a store that cannot be written keeps no index."""
        if not self.changed:
            return
        doc = {"format": INDEX_FORMAT, "hwdiff": __version__, "folders": self.folders}
        try:
            atomic_write_text(self.path, json.dumps(doc, separators=(",", ":")) + "\n")
        except OSError:
            return
        self.changed = False

