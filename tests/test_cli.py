import json
import subprocess
import sys

import pytest

from hwdiff.hardware import find_profile
from hwdiff.spaces import get_space

SPACE = get_space("nb201")
ARCHS = SPACE.enumerate()[:5]


def write(path, text):
    path.write_text(text)
    return path


def test_devices_lists_shipped_and_local_specs(cli):
    result = cli("devices", "--json")
    assert result.code == 0
    names = {d["name"] for d in json.loads(result.out)}
    assert {"pixel3", "raspi4", "fpga", "eyeriss", "gold_6226", "titan_rtx_256", "samsung_a50", "cpu",
            "cuda", "jetson-orin", "jetson-xavier"} <= names
    table = cli("devices")
    assert table.code == 0 and "pixel3" in table.out


def test_device_alias_resolves():
    from hwdiff.hardware import get_device

    assert get_device("jetson").name == "jetson-orin"


def test_profiles_list_and_show(cli):
    listing = json.loads(cli("profiles", "--space", "nb201", "--json").out)
    assert len(listing) == 24
    shown = cli("profiles", "show", "pixel3-nb201-table", "--json")
    doc = json.loads(shown.out)
    assert doc["device"] == "pixel3" and doc["entries"] == 15625 and doc["provenance"]["licence"]
    assert cli("profiles", "show", "pixel3-nb201-table").code == 0


def test_import_round_trip(cli, tmp_path, hwdiff_home):
    """A CSV of the whole space is a table profile (fewer rows fit a few-shot one: test_hardware_fewshot.py)."""
    every = SPACE.enumerate()
    csv = write(tmp_path / "m.csv", "arch,latency_ms\n" + "".join(f"{a},{i + 1.5}\n" for i, a in enumerate(every)))
    result = cli("profile", "--device", "my-board", "--space", "nb201", "--from-table", str(csv))
    assert result.code == 0, result.err
    assert (hwdiff_home / "profiles" / "my-board-nb201-table.json").exists()
    profile = find_profile("my-board", "nb201")
    assert list(profile.predict(ARCHS)) == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert "my-board" in {p["device"] for p in json.loads(cli("profiles", "--json").out)}
    assert "my-board" in {d["name"] for d in json.loads(cli("devices", "--json").out)}
    again = cli("profile", "--device", "my-board", "--space", "nb201", "--from-table", str(csv))
    assert again.code == 2 and "already exists; pass --force" in again.err
    forced = json.loads(cli("profile", "--device", "my-board", "--from-table", str(csv), "--force", "--json").out)
    assert forced["kind"] == "table" and forced["entries"] == len(every)


GOOD = ARCHS[0]
BAD_TABLES = {
    "missing column": ("arch,ms\n" + f"{GOOD},1\n", "missing column(s) latency_ms"),
    "unknown arch": ("arch,latency_ms\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n", "line 2: unknown op"),
    "bad edge": ("arch,latency_ms\n|none~1|+|none~0|none~1|+|none~0|none~1|none~2|,1\n", "wrong edge indices"),
    "duplicate": (f"arch,latency_ms\n{GOOD},1\n{GOOD},2\n", "line 3: duplicate arch"),
    "non-numeric": (f"arch,latency_ms\n{GOOD},fast\n", "is not a number"),
    "zero": (f"arch,latency_ms\n{GOOD},0\n", "positive, finite"),
    "negative": (f"arch,latency_ms\n{GOOD},-3\n", "positive, finite"),
    "nan": (f"arch,latency_ms\n{GOOD},nan\n", "positive, finite"),
    "inf": (f"arch,latency_ms\n{GOOD},inf\n", "positive, finite"),
    "empty": ("", "is empty"),
    "header only": ("arch,latency_ms\n", "no rows"),
    "json": ('{"arch": "x", "latency_ms": 1}\n', "missing column(s)"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_import_rejects_bad_tables(cli, tmp_path, hwdiff_home, case):
    text, message = BAD_TABLES[case]
    csv = write(tmp_path / "bad.csv", text)
    result = cli("profile", "--device", "board", "--space", "nb201", "--from-table", str(csv))
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (hwdiff_home / "profiles").exists() or not list((hwdiff_home / "profiles").iterdir())


def test_import_rejects_binary_file(cli, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07\x12\x00\xff\xfe\x00binary")
    result = cli("profile", "--device", "board", "--from-table", str(path))
    assert result.code == 2 and "not a CSV text file" in result.err


def test_corrupt_profile_is_named_and_others_still_work(cli, hwdiff_home):
    folder = hwdiff_home / "profiles"
    folder.mkdir(parents=True)
    (folder / "broken-nb201-table.json").write_text('{"schema": "hwdiff.profile", "schema_')
    result = cli("profiles", "--json")
    assert result.code == 0
    assert "broken-nb201-table.json" in result.err and "not valid JSON" in result.err
    assert len([p for p in json.loads(result.out) if p["space"] == "nb201"]) == 24
    assert cli("devices").code == 0
    assert find_profile("pixel3", "nb201").predict([GOOD])[0] > 0


@pytest.mark.parametrize("args, message", [
    (("build", "|nor_conv_3x3~0|+|bad|", "--space", "nb201"), "malformed NB201 cell"),
    (("build", GOOD, "--space", "nb999"), "unknown space 'nb999'; accepted: nb201"),
    (("build", GOOD, "--dataset", "mnist"), "unknown dataset 'mnist' for space 'nb201'; accepted: cifar10"),
    (("profile", "--device", "pixel3", "--space", "nb999", "--from-table", "x.csv"), "unknown space"),
    (("profile", "--device", "b", "--from-table", "/nonexistent.csv"), "cannot read /nonexistent.csv"),
    (("profiles", "show", "nope"), "no profile file 'nope'"),
    (("build",), "Missing argument"),
    (("search", "--latency", "10ms", "--samples", "x"), "Invalid value for '--samples'"),  # checked when given
    (("profile", "--device", "b", "--batch", "one"), "Invalid value for '--batch'"),  # default None, given
])
def test_bad_input_is_one_line(cli, args, message):
    result = cli(*args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_build_json(cli):
    doc = json.loads(cli("build", GOOD, "--dataset", "cifar100", "--json").out)
    assert doc["num_classes"] == 100 and doc["params"] > 0 and doc["layers"][0]["name"] == "stem.0"


def test_console_script_prints_no_traceback():
    result = subprocess.run([sys.executable, "-m", "hwdiff", "build", "|oops|"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
