"""The shared generator of a (space, dataset): trained once across every shipped device, shipped in the
package, bound to any device that has a profile at search time (no training at run time).

Made by ``python -m tools.train_shared_generator`` into ``hwdiff/data/generators/<space>-<dataset>/``
(``model.pt`` + ``meta.json``, the store's format). The per-device generator stays available
(``hwdiff train``, ``search --generator device``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwdiff.diffusion.denoiser import DenoiserConfig
from hwdiff.diffusion.training import TrainConfig
from hwdiff.errors import HwdiffError
from hwdiff.generator.context import SearchContext
from hwdiff.generator.device_condition import DeviceEncoder, describe_device
from hwdiff.generator.model import ArchGenerator
from hwdiff.generator.store import load_model_dir
from hwdiff.generator.train import TrainedModel
from hwdiff.generator.training_set import DeviceRows, build_device_rows, build_training_set, space_archs
from hwdiff.hardware.profiles import read_profile
from hwdiff.hardware.transfer import TransferModel, load_transfer_model
from hwdiff.spaces import get_space
from hwdiff.storage import shipped_dir

SHARED_DIR = Path(__file__).resolve().parents[1] / "data" / "generators"
SHARED_TRAIN = TrainConfig(steps=12000)
SHARED_DENOISER = DenoiserConfig()


def shared_path(space: str, dataset: str) -> Path:
    return SHARED_DIR / f"{space}-{dataset}"


def device_latencies(space: str, exclude: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Device -> latency ms over ``space_archs(space, 0)`` of every shipped profile of ``space``."""
    archs = space_archs(get_space(space), seed=0)
    sources = {}
    for path in sorted(shipped_dir("profiles").glob(f"*-{space}-*.json")):
        profile = read_profile(path)
        if profile.space == space and profile.device not in exclude:
            sources[profile.device] = np.asarray(profile.predict(archs), dtype=float)
    if len(sources) < 2:
        raise HwdiffError(f"a shared generator of space {space!r} needs at least 2 shipped device profiles")
    return sources


def train_shared(space: str, dataset: str, transfer: TransferModel, sources: dict[str, np.ndarray], *,
                 train: TrainConfig = SHARED_TRAIN, denoiser: DenoiserConfig = SHARED_DENOISER, seed: int = 0,
                 progress: Callable[[int, int, float], None] | None = None) -> tuple[ArchGenerator, dict[str, Any]]:
    """Train a shared generator on ``sources`` (and synthetic devices drawn around them)."""
    sp = get_space(space)
    oracle = sp.accuracy_oracle(dataset)
    encoder = DeviceEncoder.fit(transfer)
    rows: DeviceRows = build_device_rows(sp, oracle, sources, transfer, encoder, seed)
    generator = ArchGenerator.create_shared(sp, rows.archs, rows.accuracy, encoder, denoiser, seed)
    started = time.perf_counter()

    def on_step(state) -> None:
        if progress:
            progress(state.step, train.steps, state.losses[-1])

    state = generator.fit_devices(rows, train, seed, on_step=on_step)
    meta = {
        "space": space, "dataset": dataset,
        "accuracy_metric": oracle.metric, "accuracy_source": oracle.source,
        "source_devices": sorted(sources), "synthetic_devices": rows.devices.count("synthetic"),
        "training_rows": len(rows.arch_index), "training_archs": len(rows.archs),
        "seed": seed, "train": train.to_json(), "steps_done": state.step,
        "final_loss": float(np.mean(state.losses[-100:])),
        "train_seconds": round(time.perf_counter() - started, 1), "torch_threads": torch.get_num_threads(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return generator, meta


def load_shared(space: str, dataset: str, folder: Path | None = None) -> tuple[ArchGenerator, dict[str, Any]] | None:
    """The shipped shared generator of (space, dataset); ``None`` when none ships; one line when it is broken."""
    folder = folder or shared_path(space, dataset)
    if not (folder / "meta.json").exists():
        return None
    generator, meta = load_model_dir(folder)
    if not generator.shared or meta.get("space") != space or meta.get("dataset") != dataset:
        raise HwdiffError(f"shared generator {folder}: not a shared generator of {space}/{dataset} "
                          "(reinstall hwdiff, or use `--generator device`)")
    return generator, meta


def shared_model(ctx: SearchContext, seed: int = 0, folder: Path | None = None,
                 transfer: TransferModel | None = None) -> TrainedModel | None:
    """The shared generator of ``ctx``'s space and dataset, bound to ``ctx``'s device through its profile, with
    the training set a search reads (accuracy and the device's latency of every architecture); ``None`` when none
    ships. ``folder``/``transfer``: another shared generator and the transfer model it was trained with."""
    folder = folder or shared_path(ctx.space.name, ctx.dataset)
    found = load_shared(ctx.space.name, ctx.dataset, folder)
    if found is None:
        return None
    generator, meta = found
    training = build_training_set(ctx.space, ctx.oracle, ctx.profile, None, seed)
    transfer = transfer or load_transfer_model(ctx.space.name)
    device = describe_device(generator.device_encoder, transfer, training.archs, training.latency_ms,
                             f"profile {ctx.profile.name}")
    return TrainedModel(generator.for_device(device), meta, folder, training, reused=True)
