"""``hwdiff bench-model``: exported files timed by the profiling timer, beside the device profile's prediction."""

from __future__ import annotations

import json
import shutil

import pytest

from hwdiff.deploy.export import ExportOptions, export
from hwdiff.deploy.source import resolve_source
from hwdiff.hardware import find_profile
from hwdiff.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cheap_arch):
    """One ONNX and one TorchScript export of the cheap cell (module-wide: exporting takes seconds)."""
    folder = tmp_path_factory.mktemp("exports")
    source = resolve_source(cheap_arch)
    onnx_file = export(source, ExportOptions(format="onnx", output=folder / "net.onnx")).path
    ts_file = export(source, ExportOptions(format="torchscript", output=folder / "net.torchscript.pt")).path
    return {"onnx": onnx_file, "torchscript": ts_file}


def bench_json(cli, *args):
    result = cli("bench-model", *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_onnx_measured_beside_device_profile(cli, exported, cheap_arch):
    doc = bench_json(cli, str(exported["onnx"]), "--device", "pixel3", "--threads", "1")
    predicted = float(find_profile("pixel3", "nb201").predict([cheap_arch])[0])
    assert doc["arch"] == cheap_arch and doc["backend"] == "onnxruntime" and doc["target"] == "cpu"
    assert doc["predicted_ms"] == pytest.approx(predicted) and doc["profile"] == "pixel3-nb201-table.json"
    measured = doc["measured_ms"]
    assert measured > 0 and doc["measurement"]["repeats"] >= 15 and doc["measurement"]["timer"] == "perf_counter"
    assert doc["error_pct"] == pytest.approx(100 * (measured - predicted) / predicted)
    assert any("mobile device" in n for n in doc["notes"])  # measured here, not on the phone: said plainly
    table = cli("bench-model", str(exported["onnx"]), "--device", "pixel3", "--threads", "1")
    assert table.code == 0 and "measured" in table.out and "predicted (pixel3)" in table.out and "%" in table.out


def test_torchscript_against_a_user_profile_for_this_cpu(cli, exported, tmp_path, cheap_arch):
    without = bench_json(cli, str(exported["torchscript"]), "--threads", "1")
    assert without["device"] == "cpu" and without["predicted_ms"] is None
    assert any("no prediction" in n for n in without["notes"])
    archs = [cheap_arch, *get_space("nb201").enumerate()[::1601]]  # 11 networks "measured": a few-shot profile
    table = tmp_path / "cpu.csv"
    table.write_text("arch,latency_ms\n" + "".join(f"{a},{ms}\n" for a, ms in
                                                   zip(archs, find_profile("fpga", "nb201").predict(archs))))
    assert cli("profile", "--device", "cpu", "--space", "nb201", "--from-table", str(table)).code == 0
    predicted = float(find_profile("cpu", "nb201").predict([cheap_arch])[0])
    doc = bench_json(cli, str(exported["torchscript"]), "--threads", "1")
    assert doc["backend"] == "pytorch" and doc["profile"] == "cpu-nb201-fewshot.json"
    assert doc["predicted_ms"] == pytest.approx(predicted)
    assert doc["error_pct"] == pytest.approx(100 * (doc["measured_ms"] - predicted) / predicted)


def test_onnx_without_sidecar_is_measured_only(cli, exported, tmp_path, cheap_arch):
    bare = tmp_path / "bare.onnx"
    shutil.copy(exported["onnx"], bare)
    doc = bench_json(cli, str(bare), "--threads", "1")
    assert doc["arch"] is None and doc["predicted_ms"] is None and doc["input_shape"] == [1, 3, 32, 32]
    assert doc["measured_ms"] > 0 and any("no sidecar" in n for n in doc["notes"])
    side = json.loads((exported["onnx"].parent / "net.onnx.json").read_text())
    (tmp_path / "bare.onnx.json").write_text(json.dumps(side | {"sha256": "0" * 64}))
    changed = bench_json(cli, str(bare), "--threads", "1", "--device", "pixel3")
    assert changed["arch"] == cheap_arch and any("changed since it was exported" in n for n in changed["notes"])


def test_bench_model_bad_input(cli, exported, tmp_path):
    engine = tmp_path / "net.engine"
    engine.write_bytes(b"not an engine")
    side = json.loads((exported["onnx"].parent / "net.onnx.json").read_text())
    (tmp_path / "net.engine.json").write_text(json.dumps(side | {"format": "trt", "file": "net.engine"}))
    odd = tmp_path / "net.tflite"
    odd.write_bytes(b"x")
    lonely = tmp_path / "lonely.torchscript.pt"
    shutil.copy(exported["torchscript"], lonely)
    cases = [
        ((str(tmp_path / "missing.onnx"),), "does not exist"),
        ((str(odd),), "cannot tell the format"),
        ((str(lonely),), "has no sidecar"),
        ((str(exported["onnx"]), "--backend", "pytorch"), "cannot run a onnx file; accepted: onnxruntime"),
        ((str(exported["onnx"]), "--device", "no-such-board"), "unknown device 'no-such-board'"),
        ((str(exported["onnx"]), "--target", "cuda"), "CUDA"),
        ((str(engine),), "TensorRT is not installed" if not _has_tensorrt() else "CUDA"),
    ]
    for args, message in cases:
        result = cli("bench-model", *args)
        assert result.code == 2, (args, result.out)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.err)


def _has_tensorrt() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None
