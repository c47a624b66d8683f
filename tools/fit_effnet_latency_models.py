"""Maintainer command: fit the shipped effnet model profiles on the Accel-NASBench records.

    python -m tools.fit_effnet_latency_models [--device a100 ...] [--folds 5] [--seed 0]

For each device measured in the records (a100, rtx3090, tpuv2, tpuv3: throughput, converted to
milliseconds per image as 1000 / throughput; zcu102, vck190: latency) it k-fold cross-validates the
fitting recipe (MAPE, share within +-10 %, Kendall tau on records each fit never saw), fits on every
record and writes ``profiles/<device>-effnet-model.json`` with the provenance of ``devices/<device>.toml``.
About 2-5 CPU-minutes per device on 2 cores; one torch thread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hwdiff import __version__
from hwdiff.data.effnet import MEASUREMENTS, SOURCE_FILE, effnet_records
from hwdiff.data.effnet_metrics import kfold_indices, regression_metrics
from hwdiff.data.effnet_predictor import PredictorConfig, train_ensemble
from hwdiff.errors import HwdiffError
from hwdiff.hardware.devices import shipped_device_specs
from hwdiff.hardware.model_profile import ModelProfile
from hwdiff.spaces import LatencyFeatures, get_space
from hwdiff.storage import shipped_dir

RESIDUAL_CONFIG = PredictorConfig(members=1, hidden=32, depth=2, epochs=100, batch_size=128, lr=2e-3,
                                  weight_decay=1e-2)
IRLS_ROUNDS = 5


def fit_additive(counts: np.ndarray, latency: np.ndarray) -> tuple[float, np.ndarray]:
    """Least squares on relative error (weights 1/latency), then Huber-reweighted so outliers count less."""
    design = np.concatenate([np.ones((len(counts), 1)), counts], axis=1)
    weights = 1.0 / latency
    for _ in range(IRLS_ROUNDS + 1):
        coef = np.linalg.lstsq(design * weights[:, None], latency * weights, rcond=None)[0]
        rel = design @ coef / latency - 1.0
        scale = 1.4826 * np.median(np.abs(rel))  # robust spread of relative errors
        huber = np.sqrt(np.minimum(1.0, 1.345 * scale / np.maximum(np.abs(rel), 1e-12)))
        weights = huber / latency
    return float(coef[0]), coef[1:]


def fit_residual(dense: np.ndarray, log_ratio: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A one-member MLP on the standardised log ratio; the scaling is folded into its last layer."""
    mean, std = float(log_ratio.mean()), float(log_ratio.std()) or 1.0
    model = train_ensemble(dense, (log_ratio - mean) / std, RESIDUAL_CONFIG, seed)
    layers = [(w.detach().numpy()[0].astype(np.float64), b.detach().numpy()[0, 0].astype(np.float64))
              for w, b in zip(model.weights, model.biases)]
    w, b = layers[-1]
    layers[-1] = (w * std, b * std + mean)
    return layers


def fit_model(features: LatencyFeatures, archs: Sequence[str], latency: np.ndarray,
              seed: int) -> tuple[float, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    counts = features.additive(archs)
    intercept, term_ms = fit_additive(counts, latency)
    additive = intercept + counts @ term_ms
    mlp = fit_residual(features.dense(archs), np.log(latency / additive), seed)
    return intercept, term_ms, mlp


def cross_validate(features: LatencyFeatures, archs: list[str], latency: np.ndarray, folds: int,
                   seed: int) -> dict[str, Any]:
    """k-fold held-out error of the whole fitting procedure."""
    pred = np.empty(len(latency))
    additive = np.empty(len(latency))
    for i, test in enumerate(kfold_indices(len(latency), folds, seed)):
        train = np.setdiff1d(np.arange(len(latency)), test)
        intercept, term_ms, mlp = fit_model(features, [archs[j] for j in train], latency[train], seed + 1 + i)
        fold = ModelProfile(intercept_ms=intercept, term_ms=term_ms, mlp=mlp, device="", space="effnet",
                            dataset="", provenance={})
        test_archs = [archs[j] for j in test]
        additive[test] = fold.additive(test_archs)
        pred[test] = fold.predict(test_archs)
    m = regression_metrics(latency, pred)
    return {"method": f"{folds}-fold cross-validation over the records (each predicted by a fit that never saw it)",
            "n": len(latency), "folds": folds, "mape": m["mape"], "within_10pct": m["within_10pct"],
            "kendall_tau": m["kendall_tau"], "additive_only_mape": regression_metrics(latency, additive)["mape"]}


def fit_effnet_profile(device: str, folds: int = 5, seed: int = 0) -> ModelProfile:
    """Fit (and cross-validate) the model profile of one device measured in the Accel-NASBench records."""
    specs = shipped_device_specs()
    if device not in MEASUREMENTS or device not in specs or specs[device].table("effnet") is None:
        raise HwdiffError(f"no effnet measurements for device {device!r}; accepted: {', '.join(MEASUREMENTS)}")
    spec, table = specs[device], specs[device].table("effnet")
    records = effnet_records()
    latency = records.latency_ms(device)
    keep = np.isfinite(latency)
    archs = [a for a, k in zip(records.archs, keep) if k]
    latency = latency[keep]
    features = get_space("effnet").latency_features()
    validation = cross_validate(features, archs, latency, folds, seed)
    intercept, term_ms, mlp = fit_model(features, archs, latency, seed)
    measurement = MEASUREMENTS[device]
    provenance = {
        "source": table.source,
        "origin_file": f"afzalxo/Accel-NASBench anb_dataset/anb_dataset_jsons.tar.gz, as {SOURCE_FILE}",
        "origin_sha256": records.source_sha256,
        "licence": table.licence,
        "measured": f"{measurement.quantity} column {measurement.column}, {len(latency)} records",
        "conversion": ("latency_ms = 1000 / throughput: milliseconds per image at the measured batch size"
                       if measurement.quantity == "throughput" else "latency as recorded (ms)"),
        "fitted": dt.date.today().isoformat(),
        "fitted_by": f"python -m tools.fit_effnet_latency_models (hwdiff {__version__}, torch {torch.__version__})",
        "seed": seed,
        "notes": spec.notes,
        **spec.profiling,
    }
    return ModelProfile(intercept_ms=intercept, term_ms=term_ms, mlp=mlp, device=device, space="effnet",
                        dataset=table.dataset, provenance=provenance, validation=validation)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.fit_effnet_latency_models",
                                     description="Fit the shipped effnet model profiles (Accel-NASBench records).")
    parser.add_argument("--device", action="append", choices=sorted(MEASUREMENTS), help="Default: all six.")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    specs = shipped_device_specs()
    for device in args.device or list(MEASUREMENTS):
        profile = fit_effnet_profile(device, args.folds, args.seed)
        out = shipped_dir("profiles") / specs[device].table("effnet").file
        profile.save(out, force=True)
        v = profile.validation
        print(f"{device}: held-out MAPE {v['mape']:.2f} % (additive only {v['additive_only_mape']:.2f} %), "
              f"within 10 % {v['within_10pct']:.1%}, Kendall tau {v['kendall_tau']:.3f} -> {out}")


if __name__ == "__main__":
    main()
