"""Trained generators on disk: ``$HWDIFF_HOME/models/<key>/{model.pt, meta.json}``.

``model.pt`` holds plain tensors only (loaded with ``weights_only=True``); ``meta.json`` says what the
model was trained on (space, dataset, accuracy metric, device profile and its hash, condition
scales, code version). An interrupted training run leaves ``checkpoint.pt`` beside them and resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from hwdiff import __version__
from hwdiff.errors import HwdiffError
from hwdiff.generator.model import ArchGenerator
from hwdiff.spaces import get_space
from hwdiff.storage import atomic_path, atomic_write_text, user_dir

MODEL_FORMAT = 2  # 2: quantile condition scales


@dataclass(frozen=True)
class ModelKey:
    """What makes two trained generators interchangeable."""

    space: str
    dataset: str
    device: str
    profile_sha256: str
    labels: int | None
    seed: int
    config: str  # JSON of the denoiser and training configuration

    @property
    def digest(self) -> str:
        doc = json.dumps({**asdict(self), "format": MODEL_FORMAT}, sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:12]

    @property
    def dirname(self) -> str:
        labels = "all" if self.labels is None else f"l{self.labels}"
        return f"{self.space}-{self.dataset}-{self.device}-{labels}-s{self.seed}-{self.digest}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ModelStore:
    def __init__(self, root: Path | None = None):
        self.root = root if root is not None else user_dir("models")

    def path(self, key: ModelKey) -> Path:
        return self.root / key.dirname

    def load(self, key: ModelKey) -> tuple[ArchGenerator, dict[str, Any]] | None:
        """The finished model for ``key``, ``None`` if there is none; ``HwdiffError`` if it is unusable."""
        folder = self.path(key)
        if not (folder / "meta.json").exists():
            return None
        return load_model_dir(folder)

    def save(self, key: ModelKey, generator: ArchGenerator, meta: dict[str, Any]) -> Path:
        folder = save_model_dir(self.path(key), generator, {**meta, "key": asdict(key)})
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        return folder

    def discard(self, key: ModelKey) -> None:
        shutil.rmtree(self.path(key), ignore_errors=True)

    @contextlib.contextmanager
    def claim(self, key: ModelKey, force: bool = False, on_problem: Callable[[str], None] | None = None
              ) -> Iterator[tuple[ArchGenerator, dict[str, Any]] | None]:
        """The stored model for ``key``, or ``None``: then the caller trains and saves it inside the block.

        While it trains, the block holds the key's lock (``<key>.lock`` beside the model folder, so that
        ``discard`` never removes a held lock), so a second identical run waits for the first and then
        loads its model instead of training it again; ``on_problem`` hears why it waits and about a stored
        model that is unusable (discarded). ``force``: discard the stored model and train again (after any
        run training it now).
        """
        found = None if force else self._usable(key, on_problem)
        if found is not None:
            yield found
            return
        with self._lock(key, on_problem or _to_stderr):
            if force:
                self.discard(key)
            yield None if force else self._usable(key, on_problem)

    def _usable(self, key: ModelKey, on_problem: Callable[[str], None] | None) -> tuple | None:
        try:
            return self.load(key)
        except HwdiffError as exc:
            if on_problem:
                on_problem(f"{exc}; retraining")
            self.discard(key)
            return None

    @contextlib.contextmanager
    def _lock(self, key: ModelKey, on_wait: Callable[[str], None]) -> Iterator[None]:
        """An exclusive ``flock`` on the key's lock file, released when the block ends or the process dies."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key.dirname}.lock", "a+", encoding="utf-8") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                on_wait(f"waiting for another run training the same model (pid {lock.read().strip() or '?'})")
                fcntl.flock(lock, fcntl.LOCK_EX)
            lock.truncate(0)
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            yield

    # -- resumable training --------------------------------------------------------------------
    def checkpoint_path(self, key: ModelKey) -> Path:
        return self.path(key) / "checkpoint.pt"

    def save_checkpoint(self, key: ModelKey, payload: dict[str, Any]) -> None:
        path = self.checkpoint_path(key)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def load_checkpoint(self, key: ModelKey) -> dict[str, Any] | None:
        path = self.checkpoint_path(key)
        if not path.exists():
            return None
        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # noqa: BLE001  (any unreadable checkpoint means: start over)
            path.unlink(missing_ok=True)
            return None


def save_model_dir(folder: Path, generator: ArchGenerator, meta: dict[str, Any]) -> Path:
    """``model.pt`` then ``meta.json`` (with the model's hash), each written atomically: a folder with a
    ``meta.json`` always holds the model it describes."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.pt") as tmp:
        torch.save(generator.tensors(), tmp)
    meta = {**meta, "format": MODEL_FORMAT, "hwdiff_version": __version__, "generator": generator.meta(),
            "model_sha256": _sha256(folder / "model.pt")}
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=2, allow_nan=False) + "\n")
    return folder


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_model_dir(folder: Path) -> tuple[ArchGenerator, dict[str, Any]]:
    """Load a model folder; every way it can be broken becomes one ``HwdiffError`` naming it."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HwdiffError(f"model {folder}: unreadable meta.json ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise HwdiffError(f"model {folder}: format {meta.get('format') if isinstance(meta, dict) else '?'}; "
                          f"this hwdiff reads format {MODEL_FORMAT} (retrain it)")
    model_file = folder / "model.pt"
    if not model_file.exists() or _sha256(model_file) != meta.get("model_sha256"):
        raise HwdiffError(f"model {folder}: model.pt is missing or does not match meta.json (retrain it)")
    try:
        tensors = torch.load(model_file, weights_only=True, map_location="cpu")
        generator = ArchGenerator.from_saved(get_space(meta["space"]), tensors, meta["generator"])
    except Exception as exc:  # noqa: BLE001  (a foreign or damaged file, whatever the cause)
        raise HwdiffError(f"model {folder}: cannot be loaded ({type(exc).__name__}); retrain it") from None
    return generator, meta
