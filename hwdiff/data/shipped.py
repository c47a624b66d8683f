"""Reading the package's own ``.npz`` tables: plain arrays, never pickles."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from hwdiff.errors import HwdiffError


def read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of ``path``; a missing or corrupt file is a one-line error naming ``what`` and the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise HwdiffError(f"cannot read the shipped {what} {path}: {exc}") from None
