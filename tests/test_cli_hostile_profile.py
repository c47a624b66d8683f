"""Hostile values for ``profile``, ``profiles show``, ``predict``, ``export``, ``bench-model`` and ``finetune``.

Each case must be refused the way every bad input is: a non-zero exit, exactly one line on stderr
naming the option (or the file), no traceback, and the user's store (``$HWDIFF_HOME``) unchanged.
Nothing here measures, trains or exports for real: each value is refused before that work starts.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import read_profile, shipped_dir
from hwdiff.spaces import get_space

ALL = get_space("nb201").enumerate()


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "f.csv"
    path.write_text("arch,latency_ms\n" + "".join(f"{a},{i + 1.5}\n" for i, a in enumerate(ALL[:8])))
    return path


def _profile_cases(tmp_path: Path, csv_file: Path, read_only_dir: Path) -> list[tuple[tuple[str, ...], str]]:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff\x13garbage")
    truncated = tmp_path / "truncated.csv"
    truncated.write_text(f"arch,latency_ms\n{ALL[0]},1.5\n{ALL[1][:20]}")
    huge_ms = tmp_path / "huge.csv"
    huge_ms.write_text("arch,latency_ms\n" + "".join(f"{a},1e300\n" for a in ALL[:8]))
    imp = ("profile", "--from-table", str(csv_file), "--device")
    cpu = ("profile", "--device", "cpu")
    return [
        ((*imp, "../../x/evil"), "--device"),
        ((*imp, str(tmp_path / "abs")), "--device"),
        ((*imp, ""), "--device"),
        ((*imp, "a" * 300), "--device"),
        ((*imp, "bad name"), "--device"),
        ((*imp, "board", "--out", str(folder), "--force"), "--out"),
        ((*imp, "board", "--out", str(read_only_dir / "x.json")), "--out"),
        (("profile", "--device", "board", "--from-table", str(garbage)), str(garbage)),
        (("profile", "--device", "board", "--from-table", str(truncated)), str(truncated)),
        (("profile", "--device", "board", "--from-table", str(huge_ms)), str(huge_ms)),
        (("profile", "--device", "board", "--from-table", str(folder)), str(folder)),
        ((*cpu, "--out", str(folder), "--force"), "--out"),
        ((*cpu, "--out", str(read_only_dir / "x.json")), "--out"),
        ((*cpu, "--seed", "-1"), "--seed"),
        ((*cpu, "--seed", "99999999999999999999"), "--seed"),
        ((*cpu, "--rounds", "0"), "--rounds"),
        ((*cpu, "--rounds", "100000000"), "--rounds"),
        ((*cpu, "--rounds", "٣"), "--rounds"),
        ((*cpu, "--batch", "0"), "--batch"),
        ((*cpu, "--batch", "100000000"), "--batch"),
        ((*cpu, "--threads", "-1"), "--threads"),
        ((*cpu, "--threads", "100000"), "--threads"),
        ((*cpu, "--validate", "-1"), "--validate"),
        ((*cpu, "--validate", "nan"), "--validate"),
        ((*cpu, "--networks", "0"), "--networks"),
        ((*cpu, "--networks", "100000000"), "--networks"),
    ]


def test_profile_refuses_hostile_values(assert_refused, tmp_path, csv_file, read_only_dir):
    for args, names in _profile_cases(tmp_path, csv_file, read_only_dir):
        assert_refused(*args, option=names)
    assert not (tmp_path.parent / "x").exists() and not (tmp_path / "abs-nb201-fewshot.json").exists()


def test_device_names_stay_inside_the_store(cli, hwdiff_home, csv_file):
    result = cli("profile", "--device", "my.board_2-x", "--from-table", str(csv_file))
    assert result.code == 0, result.err
    assert [p.name for p in (hwdiff_home / "profiles").iterdir()] == ["my.board_2-x-nb201-fewshot.json"]


# -- loaded profiles with impossible values ---------------------------------------------------------
def _table_doc(values: list) -> dict:
    return {"schema": "hwdiff.profile", "schema_version": 1, "kind": "table", "device": "board", "space": "nb201",
            "dataset": "cifar10", "unit": "ms", "provenance": {}, "validation": None,
            "table": {"order": "archs", "archs": ALL[:len(values)], "latency_ms": values}}


def _lut_doc(ms: float) -> dict:
    return {"schema": "hwdiff.profile", "schema_version": 1, "kind": "lut", "device": "board", "space": "nb201",
            "dataset": "cifar10", "unit": "ms", "provenance": {}, "validation": None,
            "lut": {"layers": [{"key": "stem", "ms": ms}], "calibration": {"scale": 1.0, "offset_ms": 0.0}}}


def _write_json(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))  # json writes NaN and Infinity as a careless tool would
    return path


CORRUPT_PROFILES = {
    "nan": lambda: _table_doc([1.0, float("nan")]),
    "negative": lambda: _table_doc([1.0, -2.0]),
    "zero": lambda: _table_doc([1.0, 0.0]),
    "1e300": lambda: _table_doc([1.0, 1e300]),
    "infinite": lambda: _table_doc([1.0, float("inf")]),
    "strings": lambda: _table_doc([1.0, "2"]),
    "lut 1e308": lambda: _lut_doc(1e308),
    "lut nan": lambda: _lut_doc(float("nan")),
    "lut negative": lambda: _lut_doc(-1.0),
}


@pytest.mark.parametrize("case", list(CORRUPT_PROFILES))
def test_profiles_show_names_a_corrupt_profile(assert_refused, hwdiff_home, case):
    path = _write_json(hwdiff_home / "profiles" / "board-nb201-table.json", CORRUPT_PROFILES[case]())
    result = assert_refused("profiles", "show", str(path), option=str(path))
    assert "corrupt" in result.err


@pytest.mark.parametrize("body", [b"", b"{", b"\x00\x01garbage", b'{"schema": "hwdiff.profile", "schema_ver'])
def test_profiles_show_names_a_truncated_or_garbage_file(assert_refused, tmp_path, body):
    path = tmp_path / "p.json"
    path.write_bytes(body)
    assert_refused("profiles", "show", str(path), option=str(path))


def test_profiles_show_refuses_a_directory(assert_refused, tmp_path):
    assert_refused("profiles", "show", str(tmp_path), option=str(tmp_path))


def test_predict_names_a_corrupt_user_profile_instead_of_none(assert_refused, hwdiff_home):
    path = _write_json(hwdiff_home / "profiles" / "board-nb201-table.json", _table_doc([1.0, 1e300]))
    result = assert_refused("predict", ALL[0], "--device", "board", option=str(path))
    assert "no profile" not in result.err and "1e+300" not in result.out


def test_a_corrupt_user_table_does_not_fall_back_to_the_shipped_one(assert_refused, hwdiff_home):
    doc = json.loads((shipped_dir("profiles") / "pixel3-nb201-table.json").read_text())
    doc["table"]["latency_ms"][7] = float("nan")
    path = _write_json(hwdiff_home / "profiles" / "pixel3-nb201-table.json", doc)
    assert_refused("predict", ALL[0], "--device", "pixel3", option=str(path))
    del doc["table"]["latency_ms"][7]  # a missing row
    _write_json(path, doc)
    assert_refused("predict", ALL[0], "--device", "pixel3", option=str(path))


def test_a_model_profile_with_huge_terms_is_refused(hwdiff_home):
    doc = json.loads((shipped_dir("profiles") / "a100-effnet-model.json").read_text())
    doc["model"]["additive"]["intercept_ms"] = 1e300
    path = _write_json(hwdiff_home / "profiles" / "a100-effnet-model.json", doc)
    with pytest.raises(HwdiffError, match="intercept_ms"):
        read_profile(path)


def test_fewshot_measurements_above_the_bound_are_refused():
    from hwdiff.hardware.fewshot import check_measurements

    with pytest.raises(HwdiffError, match="at most 1e\\+06 ms"):
        check_measurements(ALL[:5], [1.0, 2.0, 1e300, 3.0, 4.0], "nb201", "measured")


# -- export, bench-model, finetune ------------------------------------------------------------------
@pytest.mark.parametrize("option,value", [("--rtol", "inf"), ("--rtol", "nan"), ("--rtol", "-1"),
                                          ("--atol", "inf"), ("--atol", "0"), ("--atol", "1e300")])
def test_export_refuses_tolerances_before_writing(assert_refused, tmp_path, cheap_arch, option, value):
    out = tmp_path / "net.onnx"
    assert_refused("export", cheap_arch, "--output", str(out), option, value, option=option)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def torchscript_export(tmp_path_factory, cheap_arch) -> Path:
    from hwdiff.deploy.export import ExportOptions, export
    from hwdiff.deploy.source import resolve_source

    folder = tmp_path_factory.mktemp("exports")
    return export(resolve_source(cheap_arch), ExportOptions(format="torchscript",
                                                            output=folder / "net.torchscript.pt")).path


SHAPES = {"huge": [1, 3, 100000, 100000], "negative": [1, 3, -32, 32], "strings": [1, "3", 32, 32],
          "three dims": [1, 3, 32], "huge batch": [10**9, 3, 32, 32], "zero": [1, 0, 32, 32]}


@pytest.mark.parametrize("case", list(SHAPES))
def test_bench_model_refuses_edited_sidecar_shapes(assert_refused, tmp_path, torchscript_export, case):
    model = tmp_path / "net.torchscript.pt"
    shutil.copy(torchscript_export, model)
    doc = json.loads(Path(f"{torchscript_export}.json").read_text())
    doc["input"]["shape"] = SHAPES[case]
    Path(f"{model}.json").write_text(json.dumps(doc))
    assert_refused("bench-model", str(model), option="input shape")


def test_bench_model_refuses_a_sidecar_without_keys(assert_refused, tmp_path, torchscript_export):
    model = tmp_path / "net.torchscript.pt"
    shutil.copy(torchscript_export, model)
    sha256 = json.loads(Path(f"{torchscript_export}.json").read_text())["sha256"]
    Path(f"{model}.json").write_text(json.dumps({"schema": "hwdiff.export", "sha256": sha256}))
    assert_refused("bench-model", str(model), option="sidecar")


def test_bench_model_refuses_torchscript_its_sidecar_does_not_describe(cli, assert_refused, tmp_path,
                                                                        torchscript_export):
    model = tmp_path / "net.torchscript.pt"
    model.write_bytes(torchscript_export.read_bytes() + b"\0")  # not the file that was exported
    shutil.copy(f"{torchscript_export}.json", f"{model}.json")
    assert_refused("bench-model", str(model), "--device", "no-such-board", option="--trust-code")
    trusted = cli("bench-model", str(model), "--device", "no-such-board", "--trust-code")
    assert trusted.code == 2 and "unknown device" in trusted.err  # past the check: the next one speaks


FINETUNE = [("--img-size", "100000"), ("--img-size", "0"), ("--batch-size", "1000000000"),
            ("--workers", "100000"), ("--lr", "inf"), ("--lr", "nan"), ("--epochs", "0"), ("--epochs", "-1"),
            ("--mixup", "inf"), ("--drop", "1.5"), ("--clip-grad", "nan")]


@pytest.mark.parametrize("option,value", FINETUNE)
def test_finetune_refuses_values_before_anything_is_allocated(assert_refused, tmp_path, cheap_arch, option,
                                                               value):
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "run"
    assert_refused("finetune", cheap_arch, "--data", str(data), "--output", str(out), option, value, option=option)
    assert not out.exists()


# -- interruption ---------------------------------------------------------------------------------
def test_sigterm_during_profile_says_what_was_kept_and_how_to_resume(tmp_path, hwdiff_home):
    import os
    import signal
    import subprocess
    import sys

    from hwdiff.hardware.remote import parse_progress

    out = tmp_path / "p.json"
    env = {**os.environ, "HWDIFF_HOME": str(hwdiff_home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hwdiff", "profile", "--device", "cpu", "--validate", "0",
                             "--rounds", "1", "--threads", "1", "--progress-lines", "--out", str(out)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    for line in proc.stderr:  # wait until some layers are measured, then stop it as a scheduler would
        progress = parse_progress(line.strip())
        if progress is not None and progress[0] >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 143  # 128 + SIGTERM, as train and search say
    assert "Traceback" not in rest and "interrupted:" in rest, rest
    assert f"kept in {out}.partial" in rest and "--resume" in rest
    assert not out.exists()


@pytest.mark.parametrize("name", ["../x.json", "/abs.json", ".hidden.json", "a/b.json"])
def test_a_profile_file_name_from_elsewhere_stays_in_the_store(name):
    from hwdiff.hardware.profiles import profile_path

    with pytest.raises(HwdiffError, match="not a plain file name"):
        profile_path(name)  # what a --remote board answers is not trusted to name a path


# -- found by a second probe (2026-12-02): devices, empty and ~user paths, empty names ---------------------
def _probe_cases(tmp_path: Path, csv_file: Path, cheap_arch: str) -> list[tuple[tuple[str, ...], str]]:
    fifo = tmp_path / "a-pipe"
    os.mkfifo(fifo)  # stands for /dev/null and /dev/zero: root would replace a device, and never finish reading
    out = str(tmp_path / "net.onnx")
    return [
        (("predict", ALL[0], "--profile", str(fifo)), str(fifo)),
        (("profiles", "show", str(fifo)), str(fifo)),
        (("profile", "--device", "board", "--from-table", str(fifo)), str(fifo)),
        (("export", cheap_arch, "-o", str(fifo)), str(fifo)),
        (("export", cheap_arch, "-o", ""), "--output"),
        (("export", cheap_arch, "-o", "~no-such-user-x/net.onnx"), "--output"),
        (("export", cheap_arch, "-o", out, "--seed", "-1"), "--seed"),
        (("export", cheap_arch, "-o", out, "--seed", "99999999999999999999999"), "--seed"),
        (("export", cheap_arch, "-o", out, "--space", ""), "space"),
        (("export", cheap_arch, "-o", out, "--dataset", ""), "dataset"),
        (("bench-model", "~no-such-user-x/net.onnx"), "file"),
        (("bench-model", ""), "file"),
        (("build", cheap_arch, "--dataset", ""), "dataset"),
        (("profiles", "--space", ""), "space"),
        (("profiles", "--device", ""), "--device"),
        (("profiles", "--device", "../../x/evil"), "--device"),
        (("profile", "--device", "cpu", "--dataset", ""), "dataset"),
        (("profile", "--device", "cpu", "--precision", ""), "precision"),
        (("profile", "--device", "board", "--from-table", str(csv_file), "--dataset", ""), "dataset"),
        (("profile", "--device", "cpu", "--networks", "20", "--plan", "~no-such-user-x/p.csv"), "--plan"),
        (("profile", "--device", "cpu", "--networks", "20", "--rounds", "100000000"), "--rounds"),
        (("search", "--latency", "10ms", "--plot", "~no-such-user-x/p.png"), "--plot"),
        (("finetune", cheap_arch, "--data", "~no-such-user-x/data"), "--data"),
        (("finetune", cheap_arch, "--data", str(tmp_path), "--output", "~no-such-user-x/run"), "--output"),
    ]


def test_probe_findings_are_refused(assert_refused, tmp_path, csv_file, cheap_arch):
    for args, names in _probe_cases(tmp_path, csv_file, cheap_arch):
        assert_refused(*args, option=names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-pipe", "f.csv"]  # nothing written beside them


def test_bench_model_refuses_values_that_used_to_mean_the_default(assert_refused, tmp_path, torchscript_export):
    for option, value in (("--device", ""), ("--backend", ""), ("--threads", "0")):
        assert_refused("bench-model", str(torchscript_export), option, value, option=option.lstrip("-"))


def test_atomic_writes_never_replace_what_is_not_a_regular_file(tmp_path):
    from hwdiff.storage import atomic_write_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(HwdiffError, match="not a regular file"):
        atomic_write_text(fifo, "x")
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
