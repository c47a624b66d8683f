"""A generator for (space, dataset, device), trained once, stored, resumable (``hwdiff train``)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hwdiff.diffusion.denoiser import DenoiserConfig
from hwdiff.diffusion.training import TrainConfig, TrainState
from hwdiff.errors import HwdiffError
from hwdiff.generator.context import SearchContext
from hwdiff.generator.model import ArchGenerator
from hwdiff.generator.store import ModelKey, ModelStore
from hwdiff.generator.training_set import TrainingSet, build_training_set

DEFAULT_TRAIN = TrainConfig()
Progress = Callable[[int, int, float], None]  # (step, total, loss)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while training: ``checkpoint`` keeps step ``kept`` of ``total`` and the same call
    resumes from it (``None``: stopped at ``step`` before the first checkpoint, nothing kept)."""

    def __init__(self, step: int, total: int, kept: int, checkpoint: Path | None):
        super().__init__(f"training stopped at step {step} of {total}")
        self.step, self.total, self.kept, self.checkpoint = step, total, kept, checkpoint


@dataclass
class TrainedModel:
    generator: ArchGenerator
    meta: dict[str, Any]
    path: Path
    training: TrainingSet
    reused: bool  # True when an existing model was loaded instead of trained


def model_key(ctx: SearchContext, labels: int | None, seed: int, denoiser: DenoiserConfig,
              train: TrainConfig) -> ModelKey:
    config = json.dumps({"denoiser": denoiser.to_json(), "train": train.to_json(),
                         "metric": ctx.oracle.metric}, sort_keys=True)
    return ModelKey(ctx.space.name, ctx.dataset, ctx.device, ctx.profile.sha256, labels, seed, config)


def train_model(ctx: SearchContext, *, labels: int | None = None, seed: int = 0, force: bool = False,
                denoiser: DenoiserConfig = DenoiserConfig(), train: TrainConfig = DEFAULT_TRAIN,
                store: ModelStore | None = None, progress: Progress | None = None,
                on_problem: Callable[[str], None] | None = None,
                training: TrainingSet | None = None) -> TrainedModel:
    """Load the stored model for these settings, or train (resuming an interrupted run) and store it.

    ``training`` is the set ``build_training_set(ctx..., labels, seed)`` gives, when the caller has
    it already. A stored model that cannot be loaded is reported through ``on_problem`` and retrained.
    """
    if labels is not None and labels <= 0:
        raise HwdiffError(f"--labels must be a positive number of labelled architectures, got {labels}")
    store = store or ModelStore()
    if training is None:
        training = build_training_set(ctx.space, ctx.oracle, ctx.profile, labels, seed)
    key = model_key(ctx, labels, seed, denoiser, train)
    with store.claim(key, force, on_problem) as found:  # a second identical run waits here for the first
        if found is not None:
            return TrainedModel(found[0], found[1], store.path(key), training, reused=True)
        return _fit_and_save(ctx, key, store, training, labels, seed, denoiser, train, progress)


def _fit_and_save(ctx: SearchContext, key: ModelKey, store: ModelStore, training: TrainingSet, labels: int | None,
                  seed: int, denoiser: DenoiserConfig, train: TrainConfig, progress: Progress | None) -> TrainedModel:
    """Train (resuming from the key's checkpoint) and store the model; Ctrl-C: ``TrainingInterrupted``."""
    generator = ArchGenerator.create(ctx.space, training, denoiser, seed)
    state = None
    saved = store.load_checkpoint(key)
    if saved is not None:
        generator.denoiser.load_state_dict(saved["denoiser"])
        state = TrainState(**saved["state"])

    reached = {"step": state.step if state else 0, "kept": state.step if state else 0}

    def checkpoint(st: TrainState) -> None:
        store.save_checkpoint(key, {"denoiser": generator.denoiser.state_dict(), "state": {
            "step": st.step, "losses": st.losses, "optimizer": st.optimizer, "scheduler": st.scheduler,
            "generator": st.generator}})
        reached["kept"] = st.step

    def on_step(st: TrainState) -> None:
        reached["step"] = st.step
        if progress:
            progress(st.step, train.steps, st.losses[-1])

    started = time.perf_counter()
    try:
        state = generator.fit(training, train, seed, state, on_step, checkpoint)
    except KeyboardInterrupt:
        kept = reached["kept"]
        raise TrainingInterrupted(reached["step"], train.steps, kept,
                                  store.checkpoint_path(key) if kept else None) from None
    seconds = time.perf_counter() - started
    meta = {
        "space": ctx.space.name, "dataset": ctx.dataset, "device": ctx.device,
        "accuracy_metric": ctx.oracle.metric, "accuracy_source": ctx.oracle.source,
        "profile": {"name": ctx.profile.name, "kind": ctx.profile.kind, "sha256": ctx.profile.sha256},
        "labels": labels, "labelled": int(training.labelled.sum()), "training_archs": len(training.archs),
        "seed": seed, "train": train.to_json(), "steps_done": state.step,
        "final_loss": float(sum(state.losses[-100:]) / max(1, len(state.losses[-100:]))),
        "train_seconds_this_run": round(seconds, 1), "torch_threads": torch.get_num_threads(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = store.save(key, generator, meta)
    return TrainedModel(generator, json.loads((path / "meta.json").read_text()), path, training, reused=False)
