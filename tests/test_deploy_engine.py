"""TensorRT engines where they run: the build-check-time flow (ONNX Runtime standing in for TensorRT on
machines without a GPU), the sidecar's ``built_on`` facts and the guard that refuses engines from elsewhere."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from hwdiff.deploy.engine import check_engine_here, read_reference, write_reference
from hwdiff.deploy.export import sealed
from hwdiff.errors import HwdiffError
from hwdiff.hardware.trt_engine import STANDIN_ENV, same_version


@pytest.fixture
def standin(monkeypatch):
    """No TensorRT here (even where it is installed), the ONNX Runtime stand-in asked for."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setenv("PATH", "/nonexistent")  # and no trtexec
    monkeypatch.setenv(STANDIN_ENV, "onnxruntime")


@pytest.fixture
def engine(cli, tmp_path, standin, quick_timing, cheap_arch):
    path = tmp_path / "net.engine"
    result = cli("export", cheap_arch, "--format", "trt", "--output", str(path), "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)[-1]
    assert doc.pop("path") == str(path)
    return path, doc


def test_local_trt_export_builds_checks_and_times_with_the_standin(engine):
    path, doc = engine
    assert path.exists() and json.loads((path.parent / "net.engine.json").read_text()) == doc
    built = doc["built_on"]
    assert built["standin"].startswith("onnxruntime") and built["tensorrt"] is None and built["host"]
    assert doc["parity"]["engine"]["passed"] and doc["parity"]["engine"]["max_abs_error"] <= 1e-4
    assert doc["parity"]["onnx"]["passed"] and doc["measurement"]["median_ms"] > 0
    assert doc["engine_not_run"] is None and doc["precision"] == "fp32" and sealed(doc)


def test_an_engine_is_loaded_only_where_it_was_built(engine, tmp_path):
    path, doc = engine
    with pytest.raises(HwdiffError, match="stand-in"):
        check_engine_here(path, doc)
    real = doc | {"built_on": {"host": "board", "gpu": "Orin (nvgpu)", "tensorrt": "10.3", "standin": None}}
    from hwdiff.deploy.export import seal

    real = seal({k: v for k, v in real.items() if k != "sidecar_sha256"})
    check_engine_here(path, real, here={"host": "x", "gpu": "Orin (nvgpu)", "tensorrt": "10.3.0.30"})  # same
    for here, what in (({"gpu": "NVIDIA H200", "tensorrt": "10.3.0"}, "NVIDIA H200 with TensorRT 10.3.0"),
                       ({"gpu": "Orin (nvgpu)", "tensorrt": "10.7.0"}, "Orin (nvgpu) with TensorRT 10.7.0"),
                       ({"gpu": None, "tensorrt": None}, "no CUDA GPU with no TensorRT")):
        with pytest.raises(HwdiffError, match="built for Orin \\(nvgpu\\) with TensorRT 10.3") as err:
            check_engine_here(path, real, here=here)
        assert what in str(err.value) and "\n" not in str(err.value)
    edited = real | {"built_on": real["built_on"] | {"gpu": "NVIDIA H200"}}
    with pytest.raises(HwdiffError, match="was edited after the export"):
        check_engine_here(path, edited, here={"gpu": "NVIDIA H200", "tensorrt": "10.3"})
    with pytest.raises(HwdiffError, match="has no sidecar"):
        check_engine_here(path, None)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(HwdiffError, match="is not the engine"):
        check_engine_here(path, real, here={"gpu": "Orin (nvgpu)", "tensorrt": "10.3"})


def test_versions_compare_on_their_common_parts():
    assert same_version("10.3", "10.3.0.30") and same_version("10.3.0.30", "10.3")
    assert not same_version("10.3", "10.4.0") and not same_version("8.6", "10.6")


def test_bad_engine_input_is_one_line(cli, tmp_path, standin, cheap_arch, monkeypatch):
    monkeypatch.setenv(STANDIN_ENV, "tflite")
    bad = cli("export", cheap_arch, "--format", "trt", "--output", str(tmp_path / "x.engine"))
    assert bad.code == 2 and bad.err.strip().splitlines() == [
        "error: $HWDIFF_TRT_STANDIN='tflite'; accepted: onnxruntime (or unset it)"]
    assert list(tmp_path.iterdir()) == []
    onnx_remote = cli("export", cheap_arch, "--remote", "ssh://pi@board", "--output", str(tmp_path / "x.onnx"))
    assert onnx_remote.code == 2 and "--remote builds TensorRT engines on the board" in onnx_remote.err
    lonely = cli("export", cheap_arch, "--identity", str(tmp_path / "k"))
    assert lonely.code == 2 and "go with --remote" in lonely.err
    assert list(tmp_path.iterdir()) == []
    reference = tmp_path / "r.npz"
    write_reference(reference, [np.zeros((1, 3, 4, 4), np.float32)], [np.zeros((1, 10), np.float32)])
    inputs, outputs = read_reference(reference)
    assert inputs[0].shape == (1, 3, 4, 4) and outputs[0].shape == (1, 10)
    reference.write_bytes(b"not a zip")
    with pytest.raises(HwdiffError, match="cannot read the parity reference"):
        read_reference(reference)


def test_board_command_refuses_bad_input_in_one_line(cli, tmp_path, standin):
    reference = tmp_path / "r.npz"
    write_reference(reference, [np.zeros((1, 3, 4, 4), np.float32)], [np.zeros((1, 10), np.float32)])
    base = ("build-engine", str(tmp_path / "missing.onnx"), "--reference", str(reference), "--output",
            str(tmp_path / "x.engine"), "--atol", "1e-4", "--rtol", "1e-5")
    for extra, message in ((), "does not exist"), (("--precision", "int8"), "unknown --precision 'int8'"):
        result = cli(*base, *extra)
        assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "x.engine").exists()
