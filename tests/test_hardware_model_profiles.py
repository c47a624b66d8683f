import json

import numpy as np
import pytest

from hwdiff.data.effnet import MEASUREMENTS, effnet_records
from hwdiff.data.effnet_metrics import regression_metrics
from hwdiff.errors import HwdiffError
from hwdiff.hardware import ModelProfile, find_profile, get_device, read_profile
from hwdiff.spaces import get_space
from tools.fit_effnet_latency_models import fit_model

DEVICES = ("a100", "rtx3090", "tpuv2", "tpuv3", "zcu102", "vck190")


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.mark.parametrize("device", DEVICES)
def test_shipped_model_profiles(device):
    profile = find_profile(device, "effnet")
    assert isinstance(profile, ModelProfile) and profile.device == device and profile.dataset == "imagenet"
    v = profile.validation
    assert v["folds"] == 5 and v["mape"] <= 5.0 and v["mape"] <= v["additive_only_mape"]
    assert profile.provenance["batch_size"] == get_device(device).profiling["batch_size"]
    assert profile.provenance["licence"].startswith("Apache-2.0")
    records = effnet_records()
    measured = records.latency_ms(device)
    keep = np.isfinite(measured)
    predicted = profile.predict([a for a, k in zip(records.archs, keep) if k])
    assert regression_metrics(measured[keep], predicted)["mape"] < 5.0
    novel = get_space("effnet").random_archs(100, np.random.default_rng(0))
    lat = profile.predict(novel)
    assert np.all(lat > 0.5 * np.nanmin(measured)) and np.all(lat < 2 * np.nanmax(measured))


def test_throughput_becomes_milliseconds_per_image():
    records = effnet_records()
    assert np.allclose(records.latency_ms("a100"), 1000.0 / records.column("throughput_a100_mean"))
    assert np.array_equal(records.latency_ms("zcu102"), records.column("latency_zcu102_mean"), equal_nan=True)
    assert set(MEASUREMENTS) == set(DEVICES)


def test_alias_and_missing_profile():
    assert find_profile("3090", "effnet").device == "rtx3090"
    with pytest.raises(HwdiffError, match="no profile for device 'pixel3' and space 'effnet'; devices with a effnet "
                                          "profile: a100, ") as err:
        find_profile("pixel3", "effnet")
    assert all(d in str(err.value) for d in DEVICES)


def test_fit_on_part_predicts_the_rest():
    """The fitting recipe on 1,000 A100 records, checked on 500 others."""
    records = effnet_records()
    rows = np.random.default_rng(0).permutation(len(records))
    train, test = rows[:1000], rows[1000:1500]
    latency = records.latency_ms("a100")
    archs = records.archs
    features = get_space("effnet").latency_features()
    intercept, term_ms, mlp = fit_model(features, [archs[i] for i in train], latency[train], 0)
    profile = ModelProfile(intercept_ms=intercept, term_ms=term_ms, mlp=mlp, device="a100", space="effnet",
                           dataset="imagenet", provenance={})
    pred = profile.predict([archs[i] for i in test])
    assert regression_metrics(latency[test], pred)["mape"] < 2.0
    assert regression_metrics(latency[test], profile.additive([archs[i] for i in test]))["mape"] < 3.0


def test_json_round_trip_and_corrupt_files(tmp_path):
    profile = find_profile("tpuv3", "effnet")
    archs = effnet_records().archs[:50]
    path = profile.save(tmp_path / "p.json")
    assert np.allclose(read_profile(path).predict(archs), profile.predict(archs))
    doc = json.loads(path.read_text())
    doc["model"]["additive"]["terms"] = doc["model"]["additive"]["terms"][:-1]
    (tmp_path / "terms.json").write_text(json.dumps(doc))
    with pytest.raises(HwdiffError, match="corrupt model profile .*additive terms differ"):
        read_profile(tmp_path / "terms.json")
    doc = json.loads(path.read_text())
    doc["model"]["residual_mlp"]["layers"][0]["bias"].append(0.0)
    (tmp_path / "shape.json").write_text(json.dumps(doc))
    with pytest.raises(HwdiffError, match="layer shapes"):
        read_profile(tmp_path / "shape.json")
    doc = json.loads(path.read_text())
    doc["model"]["features"] = "effnet-features-v0"
    (tmp_path / "features.json").write_text(json.dumps(doc))
    with pytest.raises(HwdiffError, match="fitted on features 'effnet-features-v0'"):
        read_profile(tmp_path / "features.json")
