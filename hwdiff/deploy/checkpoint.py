"""Finetune checkpoints: plain containers of tensors, written atomically, read with ``weights_only=True``.

A checkpoint is a dict with ``"format": "hwdiff.finetune"`` and a version, the run's settings, its
classes, the model (and EMA) weights, optimiser / scheduler / grad-scaler state, every rank's RNG
state and the per-epoch history. Nothing in it needs pickle's arbitrary globals, so a checkpoint
someone sends you cannot run code when loaded.
"""

from __future__ import annotations

import pickle
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwdiff.errors import HwdiffError
from hwdiff.storage import atomic_path

FORMAT = "hwdiff.finetune"
VERSION = 1
REQUIRED_KEYS = ("config", "classes", "input_size", "model", "epoch")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` through a temporary file: a crash never leaves a torn checkpoint."""
    doc = {"format": FORMAT, "version": VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(doc, tmp)


def copy_checkpoint(src: Path, dst: Path) -> None:
    """Copy a checkpoint atomically (``best.pt`` from ``last.pt``)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read an hwdiff finetune checkpoint; ``HwdiffError`` saying what is wrong with any other file."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt" if (path / "best.pt").exists() else path / "last.pt"
    if not path.is_file():
        raise HwdiffError(f"checkpoint {path} does not exist; give a file written by `hwdiff finetune` "
                          "(RUN_DIR/best.pt or RUN_DIR/last.pt) or its run directory")
    try:
        with warnings.catch_warnings():  # a foreign file's "pickle protocol N" warning is not the message
            warnings.simplefilter("ignore")
            doc = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), None)
        if refused:
            raise HwdiffError(f"checkpoint {path} holds objects a weights-only load refuses ({refused[:200]}); "
                              "only checkpoints written by `hwdiff finetune` are accepted") from None
        raise HwdiffError(f"checkpoint {path} is corrupt or not a PyTorch file (not a torch.save archive); "
                          "give a file written by `hwdiff finetune`") from None
    except Exception as exc:  # noqa: BLE001  (random bytes can fail inside the unpickler in many ways)
        first = str(exc).strip().split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise HwdiffError(f"checkpoint {path} is corrupt or not a PyTorch file ({first[:160]}); "
                          "give a file written by `hwdiff finetune`") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        what = "a bare state_dict" if isinstance(doc, dict) and doc and all(
            isinstance(v, torch.Tensor) for v in doc.values()) else f"a {type(doc).__name__}"
        raise HwdiffError(f"checkpoint {path} is not an hwdiff finetune checkpoint (it holds {what}, no "
                          f"\"format\": \"{FORMAT}\"); give a file written by `hwdiff finetune`")
    if doc.get("version") != VERSION:
        raise HwdiffError(f"checkpoint {path} has format version {doc.get('version')!r}; this hwdiff reads "
                          f"version {VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise HwdiffError(f"checkpoint {path} is incomplete (missing {', '.join(missing)}); it cannot be used")
    doc["path"] = str(path)
    return doc


# -- RNG state: plain containers of tensors and numbers, so that it survives a weights_only load ------------

def capture_rng_state() -> dict[str, Any]:
    """This process's RNG state (torch CPU and CUDA, numpy's global generator, Python's ``random``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
