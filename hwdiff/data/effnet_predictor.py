"""Predicted ImageNet accuracy for effnet architectures: a deep ensemble of small MLPs.

The space has about 1e11 networks and the records cover 4,282, so accuracy for any other network
is predicted. The predictor is an ensemble of ``members`` MLPs (same data, different seeds and
batch orders) on ``arch_features``; its mean is the prediction and its spread plus a noise floor
estimated on held-out folds is the uncertainty. It predicts ``val_top1`` of the records: ImageNet
top-1 after Accel-NASBench's *proxy* training (16 epochs, reduced resolution), not a full-training
accuracy, and every figure it gives is labelled so.

Shipped as ``tables/effnet_predictor.npz`` (weights, read with ``allow_pickle=False``) and
``tables/effnet_predictor.json`` (configuration, k-fold held-out metrics, provenance), made by the
maintainer command ``python -m tools.train_effnet_predictor``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwdiff.errors import HwdiffError
from hwdiff.spaces.effnet.features import FEATURES_VERSION, arch_features
from hwdiff.spaces.effnet.space import B0
from hwdiff.storage import atomic_path, atomic_write_text

TABLES = Path(__file__).resolve().parent / "tables"
WEIGHTS_PATH = TABLES / "effnet_predictor.npz"
META_PATH = TABLES / "effnet_predictor.json"
METRIC_LABEL = "proxy-trained ImageNet top-1 (predicted)"
B0_FULLY_TRAINED_TOP1 = 0.771  # EfficientNet-B0's published ImageNet top-1 (Tan & Le, ICML 2019), for messages
TARGET = "val_top1"


@dataclass(frozen=True)
class PredictorConfig:
    members: int = 5
    hidden: int = 128
    depth: int = 2
    epochs: int = 100
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-3


class EnsembleMLP(nn.Module):
    """``members`` independent MLPs evaluated as one batched network (weights ``[K, in, out]``)."""

    def __init__(self, members: int, in_features: int, hidden: int, depth: int):
        super().__init__()
        sizes = [in_features] + [hidden] * depth + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            layer = [nn.Linear(d_in, d_out) for _ in range(members)]  # torch's default init, per member
            self.weights.append(nn.Parameter(torch.stack([m.weight.detach().T for m in layer])))
            self.biases.append(nn.Parameter(torch.stack([m.bias.detach()[None, :] for m in layer])))
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, F]`` (shared) or ``[K, B, F]`` (one batch per member) -> ``[K, B]``."""
        if x.dim() == 2:
            x = x.expand(len(self.weights[0]), *x.shape)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = self.act(x)
        return x.squeeze(-1)


def train_ensemble(features: np.ndarray, target: np.ndarray, config: PredictorConfig, seed: int) -> EnsembleMLP:
    """Fit every member on all rows (standardised target), each with its own init and batch order."""
    torch.manual_seed(seed)
    model = EnsembleMLP(config.members, features.shape[1], config.hidden, config.depth)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(target, dtype=torch.float32)
    n, k = len(x), config.members
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(config.epochs):
        order = torch.stack([torch.randperm(n, generator=gen) for _ in range(k)])  # [K, n]
        for start in range(0, n, config.batch_size):
            idx = order[:, start:start + config.batch_size]
            loss = nn.functional.mse_loss(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@dataclass
class AccuracyPredictor:
    """A trained ensemble with its target scaling; predicts percent top-1 and a standard deviation."""

    model: EnsembleMLP
    config: PredictorConfig
    target_mean: float
    target_std: float
    noise_std: float = 0.0  # held-out residual spread the ensemble's own spread does not explain (percent)
    meta: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, features: np.ndarray, target: np.ndarray, config: PredictorConfig, seed: int) -> AccuracyPredictor:
        mean, std = float(target.mean()), float(target.std())
        model = train_ensemble(features, (target - mean) / std, config, seed)
        return cls(model, config, mean, std)

    @torch.no_grad()
    def member_predictions(self, features: np.ndarray) -> np.ndarray:
        """``[K, B]`` percent top-1, one row per ensemble member."""
        out = self.model(torch.as_tensor(features, dtype=torch.float32)).numpy().astype(np.float64)
        return out * self.target_std + self.target_mean

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (percent) of each row."""
        members = self.member_predictions(features)
        return members.mean(axis=0), np.sqrt(members.var(axis=0) + self.noise_std ** 2)

    def predict(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_features(arch_features(archs))

    # -- portable artifact ------------------------------------------------------------------------
    def save(self, weights_path: Path = WEIGHTS_PATH, meta_path: Path = META_PATH) -> None:
        arrays = {f"weight{i}": w.detach().numpy() for i, w in enumerate(self.model.weights)}
        arrays |= {f"bias{i}": b.detach().numpy() for i, b in enumerate(self.model.biases)}
        with atomic_path(weights_path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        meta = {
            **self.meta,
            "config": asdict(self.config),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "noise_std": self.noise_std,
            "weights_file": weights_path.name,
            "weights_sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
        }
        atomic_write_text(meta_path, json.dumps(meta, indent=2, allow_nan=False) + "\n")

    @classmethod
    def load(cls, weights_path: Path = WEIGHTS_PATH, meta_path: Path = META_PATH) -> AccuracyPredictor:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            raw = weights_path.read_bytes()
        except (OSError, json.JSONDecodeError) as exc:
            raise HwdiffError(f"cannot read the effnet accuracy predictor ({exc}); reinstall hwdiff") from None
        if hashlib.sha256(raw).hexdigest() != meta.get("weights_sha256"):
            raise HwdiffError(f"{weights_path} does not match {meta_path.name}; reinstall hwdiff")
        if meta.get("features") != FEATURES_VERSION:
            raise HwdiffError(f"the effnet predictor was trained on features {meta.get('features')!r}, this hwdiff "
                              f"computes {FEATURES_VERSION!r}; retrain it (python -m tools.train_effnet_predictor)")
        try:
            config = PredictorConfig(**meta["config"])
            with np.load(weights_path, allow_pickle=False) as z:
                model = EnsembleMLP(config.members, z["weight0"].shape[1], config.hidden, config.depth)
                with torch.no_grad():
                    for i in range(len(model.weights)):
                        model.weights[i].copy_(torch.from_numpy(z[f"weight{i}"]))
                        model.biases[i].copy_(torch.from_numpy(z[f"bias{i}"]))
            return cls(model.eval(), config, meta["target_mean"], meta["target_std"], meta["noise_std"], meta)
        except (KeyError, TypeError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
            raise HwdiffError(f"corrupt effnet accuracy predictor {meta_path.name} ({exc}); reinstall hwdiff") from None


@functools.lru_cache(maxsize=1)
def shipped_predictor() -> AccuracyPredictor:
    return AccuracyPredictor.load()


class EffNetPredictedAccuracy:
    """The ``AccuracyOracle`` of the effnet space: the shipped predictor, in fractions."""

    space = "effnet"
    source = "predictor"
    metric = METRIC_LABEL

    def __init__(self, dataset: str = "imagenet"):
        self.dataset = dataset
        self.predictor = shipped_predictor()

    def predict(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.predictor.predict(archs)
        return mean / 100.0, std / 100.0

    def value_range(self) -> tuple[float, float]:
        low, high = self.predictor.meta["value_range"]
        return low / 100.0, high / 100.0

    def scale_note(self) -> str:
        """Accel-NASBench's proxy training sits well below full ImageNet training: EfficientNet-B0 is the yardstick."""
        b0 = float(self.predict([B0])[0][0])
        return (f"this is the proxy-training scale (Accel-NASBench's short proxy training, not full ImageNet "
                f"training): EfficientNet-B0 ({B0}) predicts {b0:.2%} on it, while fully trained it reaches "
                f"about {B0_FULLY_TRAINED_TOP1:.1%}")

