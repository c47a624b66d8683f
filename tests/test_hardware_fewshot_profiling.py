"""Measured few-shot profiles: the design of networks, real (quick) runs on this CPU, resume, --plan, and the
software stack a local profile records."""

from __future__ import annotations

import csv
import json
import platform

import numpy as np
import pytest

from hwdiff.errors import HwdiffError
from hwdiff.hardware import FewShotProfile, read_profile
from hwdiff.hardware.facts import local_stack_changes, software_stack
from hwdiff.hardware.fewshot import DESIGN_POOL, few_shot_design, random_archs
from hwdiff.hardware.fewshot_run import plan_few_shot
from hwdiff.hardware.profiling import partial_path, run_profile
from hwdiff.hardware.transfer import load_transfer_model
from hwdiff.spaces import get_space

SMALL = ("--device", "cpu", "--dataset", "imagenet16", "--threads", "1", "--rounds", "1")


def quick_plan(timing, **overrides):
    options = dict(dataset="imagenet16", threads=1, networks=5, holdout=3, rounds=2, network_timing=timing)
    options.update(overrides)
    return plan_few_shot("cpu", **options)


# -- the design ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201", "effnet"])
def test_design_is_reproducible_distinct_and_spans_the_latency_range(space):
    design = few_shot_design(space, 20, seed=0)
    assert design == few_shot_design(space, 20, seed=0)
    assert len(set(design)) == 20 and set(design) != set(few_shot_design(space, 20, seed=1))
    sp = get_space(space)
    assert all(sp.canonical(a) == a and sp.is_valid(a) for a in design)
    # One network per stratum of the pool's expected latency: from the lightest 5 % to the heaviest 5 %.
    model = load_transfer_model(space)
    expected = model.basis(design) @ model.prior[0]
    pool = random_archs(space, min(DESIGN_POOL, sp.size), np.random.default_rng(0))
    pool_expected = np.sort(model.basis(pool) @ model.prior[0])
    assert np.all(np.diff(expected) >= 0)  # drawn stratum by stratum, lightest first
    assert expected[0] <= pool_expected[len(pool) // 20] and expected[-1] >= pool_expected[-len(pool) // 20 - 1]


def test_random_archs_skip_the_excluded_ones():
    design = few_shot_design("nb201", 10)
    extra = random_archs("nb201", 50, np.random.default_rng(3), exclude=design)
    assert len(set(extra)) == 50 and not set(extra) & set(design)


# -- measuring ------------------------------------------------------------------------------------------
def test_few_shot_profile_is_measured_and_states_its_error_on_held_out_networks(hwdiff_home, quick_settings):
    plan = quick_plan(quick_settings)
    report = run_profile(plan)
    profile = report.profile
    assert isinstance(profile, FewShotProfile) and report.jobs == (5 + 3) * 2
    assert profile.path == hwdiff_home / "profiles" / "cpu-nb201-fewshot.json"
    assert profile.archs == few_shot_design("nb201", 5, seed=0)
    assert len(profile.holdout[0]) == 3 and not set(profile.holdout[0]) & set(profile.archs)
    assert profile.validation["n"] == 3 and "3 held-out networks" in profile.validation["method"]
    assert 0 <= profile.validation["within_10pct"] <= 1 and profile.validation["mape"] >= 0
    assert np.all(profile.latency_ms > 0) and np.all(profile.holdout[1] > 0)

    # Device identity (deliverable 4): backend, precision, batch, threads, software, the machine.
    prov = profile.provenance
    assert (prov["backend"], prov["precision"], prov["batch_size"], prov["threads"]) == ("pytorch", "fp32", 1, 1)
    assert prov["versions"]["torch"] and prov["facts_before"]["software"]["torch"]
    assert prov["facts_after"]["cpu"]["model"] and "nvpmodel" in prov["facts_before"]["jetson"]
    assert prov["plan"]["networks"] == 5 and prov["plan"]["holdout"] == 3 and prov["plan"]["seed"] == 0

    again = read_profile(profile.path)
    assert again.kind == "fewshot" and again.archs == profile.archs and again.validation == profile.validation
    every = get_space("nb201").enumerate()
    predicted = again.predict(every)
    assert predicted.shape == (len(every),) and np.all(np.isfinite(predicted) & (predicted > 0))
    # The fit follows the measurements: the measured networks are predicted near their own latency.
    assert np.median(np.abs(np.log(again.predict(again.archs) / again.latency_ms))) < np.log(2)


def test_without_held_out_networks_the_error_is_leave_one_out(quick_settings, tmp_path):
    report = run_profile(quick_plan(quick_settings, networks=6, holdout=0, rounds=1), tmp_path / "p.json")
    assert report.profile.holdout is None and report.profile.validation["n"] == 6
    assert report.profile.validation["method"].startswith("leave-one-out")


def test_interrupted_few_shot_run_resumes_where_it_stopped(hwdiff_home, quick_settings):
    plan = quick_plan(quick_settings)
    target = hwdiff_home / "profiles" / plan.filename

    def stop_after(done, total, label):
        if done >= 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_profile(plan, progress=stop_after)
    side = partial_path(target)
    assert side.exists() and not target.exists()
    assert len(json.loads(side.read_text())["results"]) == 7
    with pytest.raises(HwdiffError, match="pass --resume to continue it or --force"):
        run_profile(plan)
    with pytest.raises(HwdiffError, match="networks=5 .now 6."):
        run_profile(quick_plan(quick_settings, networks=6), resume=True)
    report = run_profile(plan, resume=True)
    assert report.resumed_jobs == 7 and target.exists() and not side.exists()
    assert report.profile.provenance["resumed"] is True and len(report.profile.archs) == 5


# -- the command ----------------------------------------------------------------------------------------
def test_profile_command_measures_a_few_shot_profile(cli, quick_timing, hwdiff_home):
    result = cli("profile", *SMALL, "--networks", "5", "--holdout", "3", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["networks"] == 5 and summary["holdout"] == 3 and summary["jobs"] == 8
    assert summary["file"] == str(hwdiff_home / "profiles" / "cpu-nb201-fewshot.json")
    assert summary["validation"]["n"] == 3 and len(summary["nearest_devices"]) == 3
    assert "5 design networks and 3 held-out ones" in result.err
    again = cli("profile", *SMALL, "--networks", "5", "--holdout", "3")
    assert again.code == 2 and "already exists; pass --force" in again.err
    shown = cli("profile", *SMALL, "--networks", "5", "--holdout", "3", "--force")
    assert shown.code == 0 and "Stated error: 3 held-out networks" in shown.out
    assert "5 networks and 3 held-out ones measured in" in shown.out
    listing = json.loads(cli("profiles", "--device", "cpu", "--json").out)
    assert [p["kind"] for p in listing] == ["fewshot"]


def test_plan_writes_the_design_and_measures_nothing(cli, tmp_path, hwdiff_home):
    plan = tmp_path / "plan.csv"
    # pixel3 cannot run networks here: --plan is how its few-shot profile starts.
    result = cli("profile", "--device", "pixel3", "--networks", "12", "--seed", "4", "--plan", str(plan))
    assert result.code == 0, result.err
    assert "--from-table" in result.out
    with open(plan, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["arch", "latency_ms"] and [r[1] for r in rows[1:]] == [""] * 12
    assert [r[0] for r in rows[1:]] == few_shot_design("nb201", 12, seed=4)
    assert not (hwdiff_home / "profiles").exists()
    again = cli("profile", "--device", "pixel3", "--networks", "12", "--plan", str(plan))
    assert again.code == 2 and "already exists; pass --force" in again.err
    doc = json.loads(cli("profile", "--device", "x", "--space", "effnet", "--plan", str(plan), "--force",
                         "--json").out)
    assert doc["networks"] == 20 and len(plan.read_text().splitlines()) == 21


BAD_INPUT = [
    (("--device", "cpu", "--networks", "4"), "--networks must be 5..1000"),
    (("--device", "cpu", "--networks", "20", "--holdout", "-1"), "--holdout must be 0"),
    (("--device", "cpu", "--networks", "20", "--holdout", "2"), "or 3..1000 networks"),
    (("--device", "cpu", "--holdout", "5"), "--holdout goes with --networks N"),
    (("--device", "cpu", "--networks", "20", "--validate", "10"), "--validate belongs to lookup-table profiles"),
    (("--device", "cpu", "--networks", "20", "--from-table", "x.csv"), "--from-table imports measured ones"),
    (("--device", "cpu", "--networks", "20", "--rounds", "0"), "--rounds must be >= 1"),
    (("--device", "cpu", "--networks", "20", "--batch", "0"), "--batch must be a positive integer"),
    (("--device", "pixel3", "--networks", "20"), "pixel3 is a mobile device, which hwdiff cannot run networks on"),
    (("--device", "cpu", "--plan", "p.csv", "--backend", "onnxruntime"), "--backend describe a measurement; --plan"),
    (("--device", "cpu", "--networks", "3", "--plan", "p.csv"), "--networks must be 5..1000"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[m[:30] for _, m in BAD_INPUT])
def test_few_shot_bad_input_is_one_line(cli, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("profile", *args)
    assert result.code == 2
    assert result.err.startswith("error: ") and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


# -- the software stack of a local profile ------------------------------------------------------------------
def test_a_changed_local_software_stack_is_named(quick_settings, tmp_path):
    profile = run_profile(quick_plan(quick_settings, rounds=1, holdout=3), tmp_path / "p.json").profile
    prov = profile.provenance
    assert local_stack_changes(prov) == []  # measured here a moment ago
    assert set(software_stack(prov["facts_before"])) >= {"python", "torch", "onnxruntime", "tensorrt",
                                                         "nvidia_driver", "l4t_release"}
    old = json.loads(json.dumps(prov))
    old["facts_before"]["software"]["torch"] = "1.0.0"
    assert local_stack_changes(old) == [f"torch 1.0.0 (now {prov['facts_before']['software']['torch']})"]
    # Measured elsewhere: nothing here to compare with.
    assert local_stack_changes({**old, "remote": {"url": "ssh://board"}}) == []
    assert local_stack_changes({**old, "facts_before": {**old["facts_before"], "host": platform.node() + "-x"}}) == []
    assert local_stack_changes({"source": "imported"}) == []


@pytest.mark.slow  # trains a (tiny) generator
def test_search_warns_once_when_the_local_stack_changed(cli, quick_settings, tmp_path):
    path = tmp_path / "cpu-fewshot.json"
    run_profile(quick_plan(quick_settings, rounds=1), path)
    args = ("search", "--device", "cpu", "--profile", str(path), "--latency", "5ms", "--samples", "50",
            "--steps", "5", "--train-steps", "50", "--json")
    same = cli(*args)
    assert same.code == 0, same.err
    assert "warning" not in same.err
    doc = json.loads(path.read_text())
    doc["provenance"]["facts_before"]["software"]["torch"] = "1.0.0"
    path.write_text(json.dumps(doc))
    changed = cli(*args)
    assert changed.code == 0, changed.err
    warnings = [line for line in changed.err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: profile {path.name} was measured on this machine with torch 1.0.0 (now "
                        f"{doc['provenance']['facts_after']['software']['torch']}): its latencies may no longer "
                        "hold; measure again with `hwdiff profile --device cpu ... --force`"]
