"""The device guard: a spec is measured only on the machine it describes, unless ``--force-device`` (recorded)."""

from __future__ import annotations

import json

import pytest

from hwdiff.hardware.device_guard import Machine, machine_mismatch, names_match
from hwdiff.hardware.devices import get_device, shipped_device_specs
from hwdiff.hardware.facts import cpu_facts
from hwdiff.hardware.profiling import TARGET_BY_KIND, plan_profile

PC = Machine(host="pc", cpu_model="Intel(R) Xeon(R) Gold 6226 CPU @ 2.70GHz", board_model=None, jetson=False,
             gpu="NVIDIA TITAN Xp")
ORIN = Machine(host="orin", cpu_model="ARMv8 Processor rev 1 (v8l)",
               board_model="NVIDIA Jetson Orin Nano Developer Kit", jetson=True, gpu="Orin")
PI = Machine(host="pi", cpu_model="aarch64", board_model="Raspberry Pi 4 Model B Rev 1.4", jetson=False, gpu=None)
SMALL = ("--dataset", "imagenet16", "--threads", "1", "--rounds", "1", "--networks", "5", "--holdout", "3")


@pytest.mark.parametrize(("device", "machine", "matches"), [
    ("cpu", PC, True), ("cpu", ORIN, True), ("cpu", PI, True),  # the generic specs: whatever runs them
    ("cuda", PC, True), ("cuda", PI, False),
    ("gold_6226", PC, True), ("gold_6240", PC, False), ("gold_6226", PI, False),
    ("raspi4", PI, True), ("raspi4", PC, False),  # a Pi says what it is in its board model, not its CPU's
    ("titanxp_1", PC, True), ("titanx_1", PC, False), ("a100", PC, False),  # "TITAN X" is not "TITAN Xp"
    ("jetson-orin", ORIN, True), ("jetson-orin", PC, False), ("jetson-nano", ORIN, False),
    ("jetson-xavier", ORIN, False),
])
def test_which_machine_is_which_device(device, machine, matches):
    reason = machine_mismatch(get_device(device), machine)
    assert (reason is None) == matches, reason
    if not matches:
        assert reason.startswith(f"device {get_device(device).name} ") and f"({machine.host})" in reason


def test_names_match_whole_words_in_order():
    assert names_match("Gold 6226", "Intel(R) Xeon(R) Gold 6226R CPU") is False
    assert names_match("gold 6226", "INTEL(R) XEON(R) GOLD 6226 CPU @ 2.70GHZ")
    assert names_match("Jetson Nano", "NVIDIA Jetson Nano Developer Kit")
    assert not names_match("Jetson Nano", "NVIDIA Jetson Orin Nano Developer Kit")
    assert not names_match("", "anything")


def test_every_shipped_device_measured_elsewhere_names_its_machine():
    """A shipped table was measured on some other machine: without `machine` any machine would pass for it."""
    for spec in shipped_device_specs().values():
        if spec.kind in TARGET_BY_KIND and spec.tables:
            assert spec.machine, spec.name
            assert names_match(spec.machine, spec.description), spec.name


def _not_a_gold_6226() -> None:
    if names_match("Gold 6226", str(cpu_facts()["model"])):
        pytest.skip("this machine is a Xeon Gold 6226")


def test_a_named_device_that_is_not_this_machine_is_refused(assert_refused):
    _not_a_gold_6226()
    result = assert_refused("profile", "--device", "gold_6226", "--backend", "pytorch", *SMALL, option="--force-device")
    assert "is not this machine" in result.err and "--remote ssh://user@board" in result.err
    assert "--from-table FILE.csv" in result.err
    jetson = assert_refused("profile", "--device", "jetson", option="--force-device")
    assert "is a Jetson board" in jetson.err


def test_force_device_measures_anyway_and_says_so_in_the_provenance(cli, quick_timing, hwdiff_home):
    _not_a_gold_6226()
    result = cli("profile", "--device", "gold_6226", "--backend", "pytorch", *SMALL, "--force-device", "--json")
    assert result.code == 0, result.err
    assert "warning: --force-device: device gold_6226" in result.err
    doc = json.loads((hwdiff_home / "profiles" / "gold_6226-nb201-fewshot.json").read_text())
    override = doc["provenance"]["device_override"]
    assert override.startswith("device gold_6226 (Intel Xeon Gold 6226") and "is not this machine" in override
    assert doc["provenance"]["plan"]["device_override"] == override
    assert "provenance.device_override" in cli("profiles", "show", "gold_6226-nb201-fewshot").out


def test_a_machine_that_is_the_device_records_no_override(quick_timing):
    plan = plan_profile("cpu", threads=1, validate=0, rounds=1)
    assert plan.device_override is None and "device_override" not in plan.to_json()


def test_force_device_goes_with_a_measurement(assert_refused, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("arch,latency_ms\n")
    assert_refused("profile", "--device", "gold_6226", "--from-table", str(table), "--force-device",
                   option="--force-device")
    assert_refused("profile", "--device", "gold_6226", "--networks", "5", "--plan", str(tmp_path / "p.csv"),
                   "--force-device", option="--force-device")
