"""``hwdiff search --verify K``: the top networks measured on this CPU with the profile's own setup, beside
their predictions; those over the budget dropped; bad input refused before any training."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hwdiff.hardware.networks as networks
from hwdiff.cli.verify import with_optional_values
from hwdiff.hardware.fewshot_run import plan_few_shot
from hwdiff.hardware.profiling import run_profile
from hwdiff.search.verify import VerifyRequest, prepare_verification

QUICK = ("--samples", "50", "--steps", "5", "--train-steps", "50")


@pytest.fixture
def cpu_profile(quick_settings, hwdiff_home):
    """A measured few-shot profile of this CPU (quick timing, one thread, two rounds), found as device cpu's."""
    plan = plan_few_shot("cpu", dataset="imagenet16", threads=1, networks=5, holdout=3, rounds=2,
                         network_timing=quick_settings)
    return run_profile(plan).profile


def _budget(profile) -> float:
    """The median predicted latency of the space: a budget about half the networks meet."""
    from hwdiff.spaces import get_space

    archs = get_space("nb201").random_archs(200, np.random.default_rng(0))
    return float(np.median(profile.predict(archs)))


@pytest.mark.slow  # trains a (tiny) generator
def test_verify_measures_the_top_networks_with_the_profiles_setup(cli, cpu_profile, quick_settings, one_thread):
    budget = _budget(cpu_profile)
    result = cli("search", "--device", "cpu", "--latency", f"{budget:.4f}ms", *QUICK, "--top", "2", "--verify", "3",
                 "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    v = doc["verification"]
    run = v["run"]
    prov = cpu_profile.provenance
    assert (run["device"], run["backend"], run["precision"], run["batch_size"], run["threads"], run["dataset"]) == (
        "cpu", prov["backend"], prov["precision"], prov["batch_size"], 1, "imagenet16")
    assert run["rounds"] == 2 and run["network_timing"] == quick_settings.to_json()
    assert v["top"] == 3 and v["measured"] == len(v["networks"]) == 3 and v["budget_ms"] == pytest.approx(
        float(f"{budget:.4f}"))
    assert v["setup_source"] == f"profile {cpu_profile.name}'s measurement"
    for n in v["networks"]:
        assert n["measured_ms"] > 0 and len(n["rounds"]) == 2 and n["rounds"][0]["repeats"] >= 3
        assert n["predicted_ms"] == pytest.approx(float(cpu_profile.predict([n["arch"]])[0]))
        assert n["within_budget"] == (n["measured_ms"] <= v["budget_ms"])
        assert n["error_pct"] == pytest.approx(100 * (n["measured_ms"] - n["predicted_ms"]) / n["predicted_ms"],
                                               abs=1e-3)
    within = [n["arch"] for n in v["networks"] if n["within_budget"]]
    assert v["feasible_share"] == pytest.approx(len(within) / 3)
    assert v["dropped"] == [n["arch"] for n in v["networks"] if not n["within_budget"]]
    kept = [c["arch"] for c in doc["candidates"]]
    assert kept == within[:2]  # the first --top of those within the budget when measured

    shown = cli("search", "--device", "cpu", "--latency", f"{budget:.4f}ms", *QUICK, "--verify", "2")
    assert shown.code == 0, shown.err
    text = " ".join(shown.out.split())
    assert "Top 2 measured on the device" in text and "when measured" in text and "prediction error (MAPE)" in text


def test_networks_over_the_budget_when_measured_are_dropped(cpu_profile, monkeypatch):
    """The dropping itself, with the measured figures fixed (the timer is tested above and in test_profiling)."""
    from hwdiff.search.constraints import ConditionTargets, Constraints
    from hwdiff.search.scoring import Candidate
    from hwdiff.search.search import SearchResult, SearchStats

    archs = cpu_profile.archs[:4]
    predicted = cpu_profile.predict(archs)
    candidates = [Candidate(a, 0.9 - i / 100, None, "table", float(p), "fewshot") for i, (a, p) in
                  enumerate(zip(archs, predicted))]
    budget = float(predicted.max())
    measured = [budget * 0.5, budget * 1.5, budget * 0.9, budget * 2]
    fixed = {"networks": [{"arch": a, "measured_ms": m, "rounds": []} for a, m in zip(archs, measured)],
             "versions": {}, "load_average": {}}
    monkeypatch.setattr(networks, "measure_networks", lambda run, picked, progress=None: fixed)
    result = SearchResult("nb201", "cifar10", "cpu", Constraints(latency_ms=budget), list(candidates),
                          SearchStats(4, 4, 4, 0, 1.0, 0.1, 40.0), ConditionTargets(), "test")
    verifier = prepare_verification(cpu_profile, "cifar10", VerifyRequest(top=4))
    v = verifier.verify(result, top=5)
    assert [n.within_budget for n in v.networks] == [True, False, True, False]
    assert v.dropped == [archs[1], archs[3]] and v.feasible_share == 0.5
    assert [c.arch for c in result.candidates] == [archs[0], archs[2]] and result.verification is v
    assert result.to_json()["verification"]["dropped"] == v.dropped


def test_a_bare_verify_means_the_top_ten():
    assert with_optional_values(["search", "--verify"], "search") == ["search", "--verify", "10"]
    assert with_optional_values(["search", "--verify", "--json"], "search") == ["search", "--verify", "10", "--json"]
    assert with_optional_values(["search", "--verify", "3"], "search") == ["search", "--verify", "3"]
    assert with_optional_values(["search", "--verify", "-1"], "search") == ["search", "--verify", "-1"]
    assert with_optional_values(["search", "--verify=4"], "search") == ["search", "--verify=4"]
    assert with_optional_values(["train", "--verify"], "train") == ["train", "--verify"]


@pytest.mark.parametrize(("args", "says"), [
    (("--verify", "0"), "--verify must be a positive number (at least 1) and at most 100 networks, got 0"),
    (("--verify", "-3"), "got -3"),
    (("--verify", "101"), "at most 100 networks"),
    (("--verify",), "--verify: device pixel3 is a mobile device, which hwdiff cannot run networks on"),
    (("--device", "fpga", "--verify", "2"), "--verify: device fpga is an accelerator device"),
    (("--remote", "ssh://pi@board"), "--remote goes with --verify"),
    (("--verify", "2", "--identity", "key"), "--identity and --remote-python go with --remote"),
])
def test_bad_verify_input_is_one_line_before_any_training(assert_refused, args, says):
    result = assert_refused("search", "--latency", "5ms", *args, option="--")
    assert says in result.err


def test_a_device_that_is_not_this_machine_cannot_be_verified_here(assert_refused):
    from hwdiff.hardware.device_guard import names_match
    from hwdiff.hardware.facts import cpu_facts

    if names_match("Gold 6226", str(cpu_facts()["model"])):
        pytest.skip("this machine is a Xeon Gold 6226")
    result = assert_refused("search", "--device", "gold_6226", "--latency", "30ms", "--verify", option="--verify")
    assert "cannot measure device gold_6226 here" in result.err and "--remote ssh://user@board" in result.err


def test_a_profile_measured_on_other_hardware_is_not_verified_here(assert_refused, cpu_profile, tmp_path):
    doc = json.loads(cpu_profile.path.read_text())
    doc["provenance"]["facts_before"]["cpu"]["model"] = "Some Other CPU"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    result = assert_refused("search", "--device", "cpu", "--profile", str(other), "--latency", "5ms", "--verify", "2",
                            option="--verify")
    assert "was measured on CPU 'Some Other CPU'" in result.err


def test_an_imported_profile_is_verified_with_the_device_specs_setup(cpu_profile, tmp_path):
    """An imported profile records no setup: the device spec's defaults (and the search's dataset) are used."""
    from hwdiff.hardware.fewshot import FewShotProfile

    imported = FewShotProfile.fit(device="cpu", space="nb201", dataset="", archs=cpu_profile.archs,
                                  latency_ms=list(cpu_profile.latency_ms), provenance={"source": "imported"})
    imported.path = tmp_path / "imported.json"
    verifier = prepare_verification(imported, "cifar10", VerifyRequest(top=2))
    assert (verifier.run.backend, verifier.run.precision, verifier.run.batch_size) == ("pytorch", "fp32", 1)
    assert verifier.run.dataset == "cifar10" and verifier.run.rounds == 3 and verifier.run.threads >= 1
    assert verifier.setup_source.startswith("device cpu's spec")


def test_the_setup_comes_from_the_profiles_provenance(cpu_profile, quick_settings):
    setup = networks.setup_of_profile(cpu_profile)
    assert setup == {"backend": "pytorch", "precision": "fp32", "batch_size": 1, "threads": 1, "rounds": 2,
                     "network_timing": quick_settings.to_json(), "realtime": False}
    cpu_profile.provenance["realtime_priority"] = True  # measured under SCHED_FIFO: verified so too
    assert networks.setup_of_profile(cpu_profile)["realtime"] is True
