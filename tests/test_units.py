"""Units that say what they are: every output names the latency kind and the accuracy metric."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from hwdiff.cli.render import console
from hwdiff.cli.search import _render_effnet_bench
from hwdiff.data.effnet_predictor import EffNetPredictedAccuracy
from hwdiff.hardware import find_profile
from hwdiff.hardware.latency_kind import LatencyKind
from hwdiff.search.benchmark import RecordBudgetRow
from hwdiff.spaces.effnet import B0


@pytest.mark.parametrize("device, space, key, batch, label", [
    ("a100", "effnet", "per_image_from_throughput", 256, "per-image time from throughput at batch 256"),
    ("zcu102", "effnet", "batch1_latency", 1, "batch-1 latency"),
    ("tpuv3", "effnet", "per_image_from_throughput", 128, "per-image time from throughput at batch 128"),
    ("vck190", "effnet", "batch_latency", 6, "batch-6 latency"),
    ("titan_rtx_256", "nb201", "batch_latency", 256, "batch-256 latency (the time of a call on 256 images)"),
    ("pixel3", "nb201", "batch1_latency", 1, "batch-1 latency"),
])
def test_a_profile_knows_its_latency_kind(device, space, key, batch, label):
    kind = find_profile(device, space).latency_kind
    assert kind.key == key and kind.label.startswith(label)
    if batch is not None:
        assert kind.batch == batch
    assert LatencyKind.from_json(kind.to_json()) == kind


def test_acc_above_the_proxy_scale_names_it_with_b0_as_the_yardstick(cli):
    result = cli("search", "--space", "effnet", "--acc", "0.75")
    assert result.code == 2
    [line] = result.err.strip().splitlines()
    b0 = float(EffNetPredictedAccuracy().predict([B0])[0][0])
    assert "proxy-training scale" in line and f"EfficientNet-B0 ({B0}) predicts {b0:.2%}" in line
    assert "above the best imagenet accuracy" in line and "reachable" in line


def test_predict_and_search_outputs_name_both_kinds(cli):
    table = cli("predict", "--space", "effnet", B0)
    assert table.code == 0, table.err
    text = " ".join(table.out.split())
    assert "1/throughput" in text and "per-image time from throughput at batch 256" in text
    assert "proxy-trained ImageNet top-1 (predicted)" in text
    [doc] = json.loads(cli("predict", "--space", "effnet", B0, "--json").out)
    assert doc["latency_kind"] == "per_image_from_throughput"
    assert doc["accuracy_metric"] == "proxy-trained ImageNet top-1 (predicted)"
    below = cli("search", "--device", "pixel3", "--latency", "0.001ms")
    assert below.code == 2 and "batch-1 latency" in below.err


def test_listings_name_the_latency_kind(cli):
    profiles = json.loads(cli("profiles", "--space", "effnet", "--json").out)
    kinds = {p["device"]: p["latency_kind"]["kind"] for p in profiles}
    assert kinds["a100"] == "per_image_from_throughput" and kinds["zcu102"] == "batch1_latency"
    shown = json.loads(cli("profiles", "show", "titan_rtx_256-nb201-table.json", "--json").out)
    assert shown["latency_kind"] == {"kind": "batch_latency", "batch": 256,
                                     "label": "batch-256 latency (the time of a call on 256 images)"}
    devices = {d["name"]: d for d in json.loads(cli("devices", "--json").out)}
    assert devices["a100"]["latency_kinds"]["effnet"]["kind"] == "per_image_from_throughput"
    assert devices["pixel3"]["latency_kinds"]["nb201"]["kind"] == "batch1_latency"


def test_bench_search_table_names_the_kinds(capsys, monkeypatch):
    monkeypatch.setattr(console, "_width", 250)  # one line per row: the words stay whole
    row = RecordBudgetRow("a100", 50, 0.1, 0.5, 66.0, 0.09, 65.0, 70.0, 100, 50.0, "proxy-trained top-1 (predicted)",
                          find_profile("a100", "effnet").latency_kind.to_json())
    _render_effnet_bench({"budgets": [{**asdict(row), "margin": row.margin}],
                          "summary": {"all_at_least_best_record": True, "min_margin": 1.0,
                                      "min_archs_per_second": 50.0}})
    text = " ".join(capsys.readouterr().out.split())
    assert "ms/image, 1/throughput @b256" in text and "a100 per-image time from throughput at batch 256" in text
    assert "proxy-trained top-1 (predicted)" in text


def test_pareto_plot_names_both_kinds(tmp_path, monkeypatch):
    """The plot's axes: the latency kind on x, the accuracy metric on y (the labels as matplotlib gets them)."""
    import matplotlib.axes

    from hwdiff.data.oracle import NB201TableAccuracy
    from hwdiff.search.constraints import ConditionTargets, Constraints
    from hwdiff.search.plot import plot_search
    from hwdiff.search.scoring import Scorer
    from hwdiff.search.search import SearchResult, SearchStats
    from hwdiff.spaces import get_space

    labels: dict[str, str] = {}
    for axis in ("x", "y"):
        original = getattr(matplotlib.axes.Axes, f"set_{axis}label")

        def record(self, text, *args, _axis=axis, _original=original, **kwargs):
            labels[_axis] = text
            return _original(self, text, *args, **kwargs)

        monkeypatch.setattr(matplotlib.axes.Axes, f"set_{axis}label", record)
    space = get_space("nb201")
    profile = find_profile("titan_rtx_256", "nb201")
    archs = space.enumerate()[::781]  # 20 cells spread over the space
    scored = Scorer(space, "cifar10", NB201TableAccuracy("cifar10"), profile).score(archs)
    result = SearchResult(space="nb201", dataset="cifar10", device="titan_rtx_256", constraints=Constraints(),
                          candidates=scored[:3], stats=SearchStats(20, 20, 20, 20, 1.0, 0.1, 200.0),
                          targets=ConditionTargets(), accuracy_metric="nb201 cifar10 test accuracy, 200 epochs",
                          scored=scored, latency_kind=profile.latency_kind)
    plot_search(result, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").stat().st_size > 0
    assert labels["x"].startswith("batch-256 latency (the time of a call on 256 images) on titan_rtx_256")
    assert labels["y"] == "accuracy (%): nb201 cifar10 test accuracy, 200 epochs"
