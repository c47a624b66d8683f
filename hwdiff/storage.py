"""Where hwdiff reads and writes files, and how it writes them (atomically)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hwdiff.errors import HwdiffError

PACKAGE_DIR = Path(__file__).resolve().parent


def utc_timestamp() -> str:
    """Now, as every file hwdiff writes records it: ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def hwdiff_home() -> Path:
    """The user's store: ``$HWDIFF_HOME``, default ``~/.cache/hwdiff``."""
    env = os.environ.get("HWDIFF_HOME")
    return user_path(env, "$HWDIFF_HOME") if env else Path.home() / ".cache" / "hwdiff"


def user_path(text: str | os.PathLike, what: str = "path") -> Path:
    """A path a user wrote, ``~`` and ``~user`` expanded; one ``HwdiffError`` for an empty one or an unknown
    user (``Path.expanduser`` raises ``RuntimeError`` there)."""
    if not str(text).strip():
        raise HwdiffError(f"{what} is empty; give a file or folder name")
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise HwdiffError(f"{what} {str(text)!r}: no such user's home folder to expand") from None


def user_dir(kind: str) -> Path:
    """A folder of the user's store (``devices``, ``profiles``, ``models``, ...), not created."""
    return hwdiff_home() / kind


def shipped_dir(kind: str) -> Path:
    """A folder shipped with hwdiff: inside the wheel, or at the top of a source checkout."""
    packaged = PACKAGE_DIR / "_shipped" / kind
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / kind


MAX_USER_FILE = 64 << 20  # bytes: a profile, CSV or spec a user names is far smaller (shipped ones: < 1 MB)


def read_user_file(path: str | os.PathLike, what: str = "", max_bytes: int = MAX_USER_FILE) -> bytes:
    """The bytes of a file a user named (``what``: "profile ", ...), read only when it is a regular file of
    at most ``max_bytes``: /dev/zero, a pipe or a folder would never end or grow memory without bound.
    One ``HwdiffError`` ``"cannot read {what}{path}: ..."`` for every way it cannot be read."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device or a pipe)"
            raise HwdiffError(f"cannot read {what}{path}: {kind}")
        if info.st_size > max_bytes:
            raise HwdiffError(f"cannot read {what}{path}: {info.st_size:,} bytes, at most {max_bytes:,} are read")
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)[:max_bytes]
    except OSError as exc:
        raise HwdiffError(f"cannot read {what}{path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Only a regular file (or nothing) is replaced: renaming onto ``/dev/null`` as root would replace the device.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise HwdiffError(f"cannot write {path}: it is not a regular file (a folder, a device or a pipe); "
                          "give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_writable_dir(folder: Path, option: str, create: bool = False) -> None:
    """Raise ``HwdiffError`` unless a file can be created in ``folder`` (``os.access`` says yes to root
    on read-only file systems, so this tries for real); ``create`` makes a missing folder first."""
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HwdiffError(f"cannot create {folder} ({exc.strerror}); choose a writable {option}") from None
    if not folder.is_dir():
        raise HwdiffError(f"directory {folder} does not exist; create it or give another {option}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise HwdiffError(f"directory {folder} is not writable ({exc.strerror}); give another {option}") from None
