import json
import shutil

import numpy as np
import pytest

from hwdiff.data.effnet import effnet_records
from hwdiff.data.effnet_metrics import kendall_tau, regression_metrics, spearman_rho
from hwdiff.data.effnet_predictor import META_PATH, WEIGHTS_PATH, AccuracyPredictor, PredictorConfig
from hwdiff.errors import HwdiffError
from hwdiff.spaces import get_space
from hwdiff.spaces.effnet.features import arch_features
from tools.train_effnet_predictor import cross_validate, noise_floor

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def brute_force_tau_b(a, b):
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            s = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
            concordant += s > 0
            discordant += s < 0
            ties_a += a[i] == a[j] and b[i] != b[j]
            ties_b += b[i] == b[j] and a[i] != a[j]
    n0 = concordant + discordant
    return (concordant - discordant) / np.sqrt((n0 + ties_a) * (n0 + ties_b))


def test_rank_metrics_match_their_definitions():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 8, 60).astype(float)  # many ties
    b = a + rng.normal(0, 2, 60)
    b[:10] = np.round(b[:10])
    assert kendall_tau(a, b, chunk=7) == pytest.approx(brute_force_tau_b(a, b))
    assert kendall_tau(a, -a) == pytest.approx(-1.0)
    assert spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9486833)  # average ranks for ties
    m = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.05, 2.0, 4.8]))
    assert m["mae"] == pytest.approx(0.85 / 3) and m["mape"] == pytest.approx(25 / 3)
    assert m["within_10pct"] == pytest.approx(2 / 3) and m["r2"] == pytest.approx(1 - 0.6425 / (14 / 3))


def test_kfold_metrics_on_a_subset():
    """The training recipe, cross-validated on 900 records with a small ensemble: loose bounds."""
    records = effnet_records()
    rows = np.random.default_rng(0).choice(len(records), 900, replace=False)
    features = arch_features(records.values[rows])
    target = records.column("val_top1")[rows]
    config = PredictorConfig(members=2, hidden=64, epochs=40)
    cv = cross_validate(features, target, config, folds=3, seed=0)
    assert len(cv["per_fold"]) == 3
    assert cv["mean"]["kendall_tau"] > 0.75 and cv["mean"]["r2"] > 0.90 and cv["mean"]["mae"] < 1.0
    assert cv["mean"]["spearman"] > cv["mean"]["kendall_tau"]
    assert np.all(cv["oof_spread"] > 0) and 0 <= noise_floor(target, cv["oof_mean"], cv["oof_spread"]) < 1.0


def test_shipped_predictor_meets_its_targets():
    meta = json.loads(META_PATH.read_text())
    assert meta["kfold"]["folds"] == 5 and meta["records"] == 4282
    assert meta["kfold"]["mean"]["kendall_tau"] >= 0.92 and meta["kfold"]["mean"]["r2"] >= 0.98
    assert meta["metric"] == "proxy-trained ImageNet top-1 (predicted)"
    assert 0.6 < meta["calibration"]["within_1std"] < 0.8 and meta["calibration"]["within_2std"] > 0.9


def test_oracle_interface():
    oracle = get_space("effnet").accuracy_oracle("imagenet")
    assert oracle.source == "predictor" and oracle.metric == "proxy-trained ImageNet top-1 (predicted)"
    records = effnet_records()
    archs = records.archs[:300]
    mean, std = oracle.predict(archs)
    assert mean.shape == std.shape == (300,)
    measured = records.column("val_top1")[:300] / 100
    assert np.abs(mean - measured).mean() < 0.006  # records it was trained on: fraction, not percent
    assert np.all(std > 0) and np.all(std < 0.03)
    low, high = oracle.value_range()
    assert 0.3 < low < mean.min() and mean.max() < high < 0.8
    novel = get_space("effnet").random_archs(50, np.random.default_rng(1))
    assert np.all(np.isfinite(oracle.predict(novel)[0]))


def test_unknown_dataset_is_named():
    with pytest.raises(HwdiffError, match="unknown dataset 'cifar10' for space 'effnet'; accepted: imagenet"):
        get_space("effnet").accuracy_oracle("cifar10")


def test_artifact_round_trip_and_tamper_check(tmp_path):
    predictor = AccuracyPredictor.load()
    archs = effnet_records().archs[:20]
    weights, meta = tmp_path / "w.npz", tmp_path / "m.json"
    predictor.save(weights, meta)
    again = AccuracyPredictor.load(weights, meta)
    assert np.allclose(again.predict(archs)[0], predictor.predict(archs)[0])
    shutil.copy(WEIGHTS_PATH, weights)
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(HwdiffError, match="does not match"):
        AccuracyPredictor.load(weights, meta)
