"""Output directories are checked by writing to them, before any long work starts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hwdiff.errors import HwdiffError


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
