"""Maintainer command: train the shipped effnet accuracy predictor and record its held-out quality.

Run when the records or the recipe change (about a minute on one core)::

    python -m tools.train_effnet_predictor [--folds 5] [--members 5] [--epochs 100] [--seed 0]

It k-fold cross-validates the recipe on the records (Kendall tau, Spearman, R^2, MAE on records each
fold's model never saw), trains the shipped ensemble on every record, estimates the noise floor of
its uncertainty and the range of accuracies it can express, and writes ``tables/effnet_predictor.*``.
Training uses one torch thread: on a small shared machine a second thread only spins.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

import numpy as np
import torch

from hwdiff.data.effnet import EffNetRecords, effnet_records
from hwdiff.data.effnet_metrics import kfold_indices, regression_metrics
from hwdiff.data.effnet_predictor import (
    META_PATH,
    METRIC_LABEL,
    TARGET,
    WEIGHTS_PATH,
    AccuracyPredictor,
    PredictorConfig,
)
from hwdiff.spaces.effnet.features import FEATURES_VERSION, arch_features
from hwdiff.spaces.effnet.space import ATTRIBUTES, VALUES, EffNetSpace, arch_values, layer_choices


def cross_validate(features: np.ndarray, target: np.ndarray, config: PredictorConfig, folds: int,
                   seed: int) -> dict:
    """k-fold held-out metrics, and out-of-fold mean / ensemble std for every row."""
    oof_mean = np.empty(len(target))
    oof_spread = np.empty(len(target))
    per_fold = []
    for i, test in enumerate(kfold_indices(len(target), folds, seed)):
        train = np.setdiff1d(np.arange(len(target)), test)
        predictor = AccuracyPredictor.fit(features[train], target[train], config, seed + 1 + i)
        members = predictor.member_predictions(features[test])
        oof_mean[test], oof_spread[test] = members.mean(axis=0), members.std(axis=0)
        per_fold.append(regression_metrics(target[test], oof_mean[test]))
    keys = ("kendall_tau", "spearman", "r2", "mae")
    return {
        "folds": folds,
        "per_fold": [{k: m[k] for k in keys} for m in per_fold],
        "mean": {k: float(np.mean([m[k] for m in per_fold])) for k in keys},
        "oof_mean": oof_mean,
        "oof_spread": oof_spread,
    }


def noise_floor(target: np.ndarray, oof_mean: np.ndarray, oof_spread: np.ndarray) -> float:
    """Std of held-out residuals not explained by the ensemble spread (0 if the spread covers them)."""
    return float(np.sqrt(max(0.0, np.mean((target - oof_mean) ** 2) - np.mean(oof_spread ** 2))))


def _neighbours(values: np.ndarray) -> np.ndarray:
    """Every architecture one choice away from ``values`` ``[7, 4]`` -> ``[M, 7, 4]``."""
    out = []
    for s in range(len(values)):
        for a, choices in enumerate(VALUES):
            for v in (layer_choices(s) if ATTRIBUTES[a] == "layers" else choices):
                if v != values[s, a]:
                    n = values.copy()
                    n[s, a] = v
                    out.append(n)
    return np.stack(out)


def prediction_range(predictor: AccuracyPredictor, records: EffNetRecords, seed: int, samples: int = 20000,
                     starts: int = 10) -> tuple[float, float]:
    """Lowest and highest mean prediction found over the records, uniform samples and hill climbs from the extremes.

    The space is too large to evaluate, so this is a search-based estimate of what the predictor can
    express; ``hwdiff search`` uses it to reject unreachable accuracy targets.
    """
    uniform = EffNetSpace().random_archs(samples, np.random.default_rng(seed))
    values = np.concatenate([records.values, arch_values(uniform)])
    scores = predictor.predict_features(arch_features(values))[0]
    bounds = []
    for sign in (-1.0, 1.0):
        best = float((sign * scores).max())
        for start in np.argsort(sign * scores)[-starts:]:
            current, current_score = values[start], sign * scores[start]
            while True:
                cand = _neighbours(current)
                cand_scores = sign * predictor.predict_features(arch_features(cand))[0]
                if cand_scores.max() <= current_score:
                    break
                current, current_score = cand[int(cand_scores.argmax())], float(cand_scores.max())
            best = max(best, current_score)
        bounds.append(sign * best)
    return bounds[0], bounds[1]


def train_shipped(config: PredictorConfig, folds: int, seed: int) -> AccuracyPredictor:
    """Cross-validate, then train on every record; the result carries its held-out metrics."""
    records = effnet_records()
    features = arch_features(records.values)
    target = records.column(TARGET)
    cv = cross_validate(features, target, config, folds, seed)
    predictor = AccuracyPredictor.fit(features, target, config, seed)
    predictor.noise_std = noise_floor(target, cv["oof_mean"], cv["oof_spread"])
    sigma = np.sqrt(cv["oof_spread"] ** 2 + predictor.noise_std ** 2)
    z = np.abs(target - cv["oof_mean"]) / sigma
    low, high = prediction_range(predictor, records, seed)
    predictor.meta = {
        "what": "deep ensemble of MLPs predicting Accel-NASBench val_top1 (percent)",
        "metric": METRIC_LABEL,
        "target": TARGET,
        "features": FEATURES_VERSION,
        "records": len(records),
        "records_sha256": records.source_sha256,
        "seed": seed,
        "kfold": {k: cv[k] for k in ("folds", "per_fold", "mean")},
        "calibration": {"within_1std": float((z <= 1).mean()), "within_2std": float((z <= 2).mean())},
        "value_range": [low, high],
        "trained": dt.date.today().isoformat(),
        "trained_by": "python -m tools.train_effnet_predictor",
        "torch": torch.__version__,
    }
    return predictor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.train_effnet_predictor",
                                     description="Train and ship the effnet accuracy predictor.")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--members", type=int, default=PredictorConfig.members)
    parser.add_argument("--epochs", type=int, default=PredictorConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    predictor = train_shipped(PredictorConfig(members=args.members, epochs=args.epochs), args.folds, args.seed)
    predictor.save()
    print(json.dumps({k: predictor.meta[k] for k in ("kfold", "calibration", "value_range")}, indent=2))
    print(f"wrote {WEIGHTS_PATH} and {META_PATH}")


if __name__ == "__main__":
    main()
