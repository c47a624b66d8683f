"""hwdiff train / search / predict on nb201 with a small generator trained once for the module."""

import json

import numpy as np
import pytest

from hwdiff.errors import HwdiffError
from hwdiff.generator.context import resolve_context
from hwdiff.generator.training_set import build_training_set
from hwdiff.search.constraints import parse_accuracy, parse_latency
from hwdiff.search.search import (
    ACC_HINT_QUANTILE,
    ACC_HINT_SUPPORT,
    LATENCY_MARGIN,
    LATENCY_STEP_REFERENCE,
    Constraints,
    condition_targets,
    latency_step,
)

TRAIN = ("--train-steps", "300")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    return tmp_path_factory.mktemp("trained-home")


@pytest.fixture
def home(trained_home, monkeypatch, cli):
    monkeypatch.setenv("HWDIFF_HOME", str(trained_home))
    if not (trained_home / "models").exists():
        result = cli("train", "--device", "pixel3", *TRAIN)
        assert result.code == 0, result.err
    return trained_home


@pytest.mark.slow  # trains a generator
def test_search_json_contract(cli, home):
    result = cli("search", "--device", "pixel3", "--acc", "90%", "--latency", "15ms", "--samples", "200",
                 "--top", "3", "--steps", "20", *TRAIN, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert set(doc) >= {"space", "dataset", "device", "constraints", "candidates", "stats"}
    assert (doc["space"], doc["dataset"], doc["device"]) == ("nb201", "cifar10", "pixel3")
    assert doc["constraints"] == {"acc": 0.9, "latency_ms": 15.0}
    assert set(doc["stats"]) >= {"samples", "valid", "unique", "novel", "feasible", "seconds", "archs_per_second"}
    assert doc["stats"]["samples"] == 200 and doc["stats"]["valid"] == 200  # validity 100 %
    assert 1 <= len(doc["candidates"]) <= 3
    accs = [c["accuracy"] for c in doc["candidates"]]
    assert accs == sorted(accs, reverse=True)
    for c in doc["candidates"]:
        assert set(c) >= {"arch", "accuracy", "accuracy_source", "latency_ms", "latency_source", "params", "novel"}
        assert c["accuracy"] >= 0.9 and c["latency_ms"] <= 15.0
        assert c["accuracy_source"] == "table" and c["latency_source"] == "table:pixel3-nb201-table.json"
        assert c["params"] > 0 and c["novel"] is False  # every cell was in the training set
    # the last search is stored for `hwdiff export`
    assert json.loads((home / "searches" / "last.json").read_text())["candidates"][0] == doc["candidates"][0]


@pytest.mark.slow  # trains a generator
def test_search_is_reproducible_and_plots(cli, home, tmp_path):
    args = ("search", "--device", "pixel3", "--latency", "10ms", "--samples", "100", "--steps", "10", *TRAIN)
    first = json.loads(cli(*args, "--json", "--seed", "0").out)
    again = json.loads(cli(*args, "--json", "--seed", "0").out)
    assert first["candidates"] == again["candidates"]
    plot = tmp_path / "pareto.png"
    result = cli(*args, "--seed", "0", "--plot", str(plot))
    assert result.code == 0, result.err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "feasible" in result.out and "Architectures meeting the constraints" in result.out


@pytest.mark.slow  # trains a generator
def test_nothing_feasible_shows_alternatives(cli, home):
    result = cli("search", "--device", "pixel3", "--acc", "94%", "--latency", "0.5ms", "--samples", "100",
                 "--steps", "10", *TRAIN)
    assert result.code == 0, result.err
    assert "No sampled architecture meets both constraints" in result.out


def test_predict_matches_the_table(cli, home, tmp_path):
    listing = tmp_path / "archs.txt"
    listing.write_text(f"# my archs\n{BEST}\n\n")
    doc = json.loads(cli("predict", "--archs", str(listing), "--device", "fpga", "--json").out)
    assert doc == [{"arch": BEST, "accuracy": pytest.approx(0.94363, abs=1e-4), "accuracy_source": "table",
                    "latency_ms": pytest.approx(7.42096), "latency_source": "table:fpga-nb201-table.json",
                    "params": 1_288_506, "accuracy_metric": "nb201 cifar10 test accuracy, 200 epochs",
                    "latency_kind": "batch1_latency"}]
    assert cli("predict", BEST, "--dataset", "imagenet16").code == 0


@pytest.mark.slow  # trains a generator
def test_search_with_a_label_budget(cli, home):
    result = cli("search", "--device", "fpga", "--latency", "4ms", "--labels", "70", "--samples", "100", "--steps",
                 "5", "--top", "3", *TRAIN, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["targets"]["labels_used"] <= 70 and doc["targets"]["rounds"] >= 1
    assert 1 <= len(doc["candidates"]) <= 3
    assert all(c["latency_ms"] <= 4.0 and c["novel"] is False for c in doc["candidates"])
    assert doc["stats"]["samples"] == 100 * doc["targets"]["rounds"]
    assert cli("search", "--labels", "2", "--top", "5").err.startswith("error: --labels 2 is below --top 5")


@pytest.mark.slow  # trains a generator
def test_corrupt_model_is_reported_and_retrained(cli, home):
    model_dir = next((home / "models").iterdir())
    (model_dir / "model.pt").write_bytes(b"garbage")
    result = cli("search", "--device", "pixel3", "--samples", "50", "--steps", "5", *TRAIN, "--json")
    assert result.code == 0
    assert "does not match meta.json" in result.err and "retraining" in result.err
    assert json.loads(result.out)["stats"]["valid"] == 50


@pytest.mark.parametrize("args, message", [
    (("--latency", "fast"), "latency 'fast' is not understood"),
    (("--latency", "-3ms"), "is not understood"),
    (("--latency", "0ms"), "must be positive"),
    (("--acc", "1.2"), "above 1"),
    (("--acc", "120%"), "above 100%"),
    (("--acc", "-0.5"), "is not understood"),
    (("--top", "0"), "at least 1"),
    (("--samples", "0"), "at least 1"),
    (("--space", "nb999"), "unknown space 'nb999'"),
    (("--dataset", "mnist"), "unknown dataset 'mnist'"),
    (("--device", "toaster"), "unknown device 'toaster'"),
    (("--plot", "/nonexistent-dir/p.png"), "does not exist"),
    (("--guidance", "sideways"), "accepted: joint, composed"),
    (("--latency", "0.001ms"), "below the fastest network"),
])
def test_search_bad_input(cli, args, message):
    result = cli("search", *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_plot_path_checked_before_work(cli, tmp_path, read_only_dir):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = cli("search", "--plot", str(not_a_dir / "p.png"))
    assert result.code == 2 and "does not exist" in result.err
    assert cli("search", "--plot", str(tmp_path / "p.jpg")).err.startswith("error: plot path")
    assert not (tmp_path / "p.jpg").exists()
    locked = cli("search", "--plot", str(read_only_dir / "p.png"))  # root: os.access would say yes
    assert locked.code == 2 and "not writable" in locked.err and len(locked.err.strip().splitlines()) == 1


def test_units():
    assert parse_latency("10ms") == 10 and parse_latency("0.01s") == 10 and parse_latency("800us") == 0.8
    assert parse_latency("5") == 5
    assert parse_accuracy("0.93") == 0.93 and parse_accuracy("93%") == pytest.approx(0.93)
    with pytest.raises(HwdiffError):
        parse_latency("10 parsecs")
    assert np.isclose(parse_latency("1e-3s"), 1.0)


def test_latency_margin_widens_with_the_devices_one_choice_step():
    """pixel3's latency moves ~0.43 in log per changed op (the GPUs/FPGA 0.13-0.17): its bounds sit lower."""
    steps, targets = {}, {}
    for device in ("pixel3", "titan_rtx_1"):
        ctx = resolve_context("nb201", "cifar10", device)
        training = build_training_set(ctx.space, ctx.oracle, ctx.profile, None, 0)
        steps[device] = latency_step(ctx, training.archs)
        assert steps[device] == latency_step(ctx, training.archs)  # a fixed sample: searches stay reproducible
        targets[device] = list(condition_targets(training, Constraints(latency_ms=5.0), steps[device]).latency_ms)
    assert steps["titan_rtx_1"] < LATENCY_STEP_REFERENCE < steps["pixel3"]
    assert targets["titan_rtx_1"] == pytest.approx([5.0 * m for m in LATENCY_MARGIN])
    widen = steps["pixel3"] / LATENCY_STEP_REFERENCE
    assert targets["pixel3"] == pytest.approx([5.0 * m ** widen for m in LATENCY_MARGIN])
    assert targets["pixel3"][0] < targets["titan_rtx_1"][0] and targets["pixel3"][1] < targets["titan_rtx_1"][1]


def test_accuracy_hint_asks_only_for_what_enough_archs_within_the_bounds_reach():
    """fpga, ImageNet16, 25 % budget: the 20 best feasible cells sit at exactly the budget, above every latency
    bound, so the 97th percentile within the budget is met by no cell within the bounds; the hint drops to the
    ACC_HINT_SUPPORT-th best within the loosest bound. --acc itself is never lowered."""
    ctx = resolve_context("nb201", "imagenet16", "fpga")
    training = build_training_set(ctx.space, ctx.oracle, ctx.profile, None, 0)
    budget = float(np.percentile(training.latency_ms, 25))
    targets = condition_targets(training, Constraints(latency_ms=budget), latency_step(ctx, training.archs))
    within_budget = training.accuracy[training.latency_ms <= budget]
    within_bounds = np.sort(training.accuracy[training.latency_ms <= targets.latency_ms[1]])
    assert targets.accuracy == within_bounds[-ACC_HINT_SUPPORT] < np.percentile(within_budget, ACC_HINT_QUANTILE)
    strict = condition_targets(training, Constraints(accuracy=0.42, latency_ms=budget))
    assert strict.accuracy == 0.42
    roomy = condition_targets(training, Constraints(latency_ms=float(np.percentile(training.latency_ms, 75))))
    assert roomy.accuracy == np.percentile(training.accuracy[training.latency_ms <= np.percentile(
        training.latency_ms, 75)], ACC_HINT_QUANTILE)
