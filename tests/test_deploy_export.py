"""``hwdiff export``: ONNX (checker + ONNX Runtime parity), TorchScript, TensorRT paths, sidecars, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import types
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwdiff.deploy.checkpoint import load_checkpoint
from hwdiff.deploy.data import make_synthetic_image_folder
from hwdiff.deploy.finetune import finetune
from hwdiff.errors import HwdiffError
from hwdiff.search.history import save_last_search
from hwdiff.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


def export_json(cli, *args):
    result = cli("export", *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def ort_logits(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_onnx_export_checks_and_matches_pytorch(cli, tmp_path, cheap_arch):
    path = tmp_path / "net.onnx"
    result = cli("export", cheap_arch, "--output", str(path))
    assert result.code == 0, result.err
    assert "max abs" in result.out and "opset 18" in result.out and "passed" in result.out
    sidecar = json.loads((tmp_path / "net.onnx.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["source"]["arch"] == cheap_arch and sidecar["source"]["weights"] == "random (seed 0)"
    assert sidecar["exporter"]["opset"] == 18 and sidecar["exporter"]["mode"] == "dynamo=False (TorchScript exporter)"
    assert sidecar["input"]["shape"] == [1, 3, 32, 32] and sidecar["output"]["shape"] == [1, 10]
    parity = sidecar["parity"]
    assert parity["passed"] and parity["max_abs_error"] <= 1e-4 and len(parity["inputs"]) == 3
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 18
    # The figure in the sidecar is real: the same network (seed 0) agrees with ONNX Runtime here too.
    torch.manual_seed(0)
    net = get_space("nb201").create_model(cheap_arch, "cifar10").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(ort_logits(path, x.numpy()), net(x).numpy(), atol=1e-4)


def test_dynamic_batch_fp16_and_torchscript(cli, tmp_path, cheap_arch):
    [dyn] = export_json(cli, cheap_arch, "--dynamic-batch", "--batch", "2", "--output", str(tmp_path / "dyn.onnx"))
    assert dyn["input"]["shape"][0] == "dynamic"
    assert [4, 3, 32, 32] in dyn["parity"]["inputs"]  # batch + 2 checks the dynamic axis
    assert ort_logits(tmp_path / "dyn.onnx", np.zeros((5, 3, 32, 32), np.float32)).shape == (5, 10)

    [half] = export_json(cli, cheap_arch, "--precision", "fp16", "--output", str(tmp_path / "half.onnx"))
    model = onnx.load(str(tmp_path / "half.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert half["input"]["dtype"] == "float16" and (half["parity"]["atol"], half["parity"]["rtol"]) == (5e-2, 1e-2)
    assert half["parity"]["max_abs_error"] < 5e-2

    [ts] = export_json(cli, cheap_arch, "--format", "torchscript", "--output", str(tmp_path))
    assert ts["path"].endswith("-b1-fp32.torchscript.pt") and ts["parity"]["max_abs_error"] <= 1e-4
    assert os.path.exists(ts["path"] + ".json")


def test_export_from_finetune_checkpoint(cli, tmp_path, cheap_arch):
    data = make_synthetic_image_folder(tmp_path / "data", classes=4, per_class=8, val_per_class=2, size=16)
    finetune(dict(arch=cheap_arch, data=str(data), epochs=1, batch_size=16, img_size=24, workers=0, ema=True),
             output=tmp_path / "run")
    [doc] = export_json(cli, str(tmp_path / "run"), "--output", str(tmp_path / "ft.onnx"))
    source = doc["source"]
    assert source["kind"] == "checkpoint" and source["weights"] == "ema" and source["num_classes"] == 4
    assert source["classes"] == ["class00", "class01", "class02", "class03"]
    assert doc["input"]["shape"] == [1, 3, 24, 24] and doc["output"]["shape"] == [1, 4]
    assert doc["parity"]["max_abs_error"] <= 1e-4
    wrong = cli("export", str(tmp_path / "run" / "best.pt"), "--space", "effnet")
    assert wrong.code == 2 and "drop --space" in wrong.err
    whole = (tmp_path / "run" / "best.pt").read_bytes()
    (tmp_path / "torn.pt").write_bytes(whole[: len(whole) // 2])  # what a crash mid-write would leave
    torn = cli("export", str(tmp_path / "torn.pt"))
    assert torn.code == 2 and "is corrupt or not a PyTorch file" in torn.err
    assert len(torn.err.strip().splitlines()) == 1


def graph_nodes(model: onnx.ModelProto) -> tuple:
    """A graph modulo names: each node's operator and plain attributes in order, initializer shapes, opset."""
    def attributes(node):
        return sorted((a.name, onnx.helper.get_attribute_value(a)) for a in node.attribute if a.type != a.TENSOR)

    nodes = [(n.op_type, attributes(n)) for n in model.graph.node]
    return nodes, sorted(tuple(i.dims) for i in model.graph.initializer), model.opset_import[0].version


@pytest.mark.parametrize("arch", ["|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
                                  "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+"
                                  "|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"])
def test_profiled_graph_is_the_exported_graph(cli, tmp_path, monkeypatch, arch):
    """What a lut profile times through ONNX Runtime (the backend's session) is what `hwdiff export` writes."""
    from hwdiff.hardware.backends import BackendOptions, create_backend

    timed = []

    class Recording(ort.InferenceSession):
        def __init__(self, model, *args, **kwargs):
            timed.append(onnx.load_from_string(model))
            super().__init__(model, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", Recording)
    backend = create_backend("onnxruntime", BackendOptions(target="cpu", threads=1))
    backend.prepare(get_space("nb201").create_model(arch, "cifar10"), (3, 32, 32))  # as profiling does
    monkeypatch.undo()
    [doc] = export_json(cli, arch, "--output", str(tmp_path / "net.onnx"))
    exported = onnx.load(doc["path"])
    assert len(timed) == 1 and graph_nodes(timed[0]) == graph_nodes(exported)
    assert [n.op_type for n in exported.graph.node if n.op_type not in ("Identity", "Constant")]  # a real network


def test_export_without_source_uses_last_search(cli, tmp_path, cheap_arch):
    missing = cli("export")
    assert missing.code == 2 and "no search has been run yet" in missing.err
    save_last_search({"space": "nb201", "dataset": "cifar100", "device": "pixel3",
                      "candidates": [{"arch": cheap_arch}]})
    result = cli("export", "--output", str(tmp_path), "--json")
    assert result.code == 0, result.err
    [doc] = json.loads(result.out)
    assert doc["source"]["kind"] == "last-search" and doc["source"]["search_device"] == "pixel3"
    assert doc["output"]["shape"] == [1, 100]
    assert "last search's best architecture" in result.err


def test_trt_without_tensorrt_writes_onnx_and_says_so(cli, tmp_path, monkeypatch, cheap_arch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails even where TensorRT exists
    monkeypatch.setenv("PATH", str(tmp_path))  # and no trtexec
    engine = tmp_path / "net.engine"
    result = cli("export", cheap_arch, "--format", "trt", "--precision", "fp16", "--output", str(engine))
    assert result.code == 2
    [line] = result.err.strip().splitlines()  # one line
    assert line.startswith("error: TensorRT is missing") and "pip install 'hwdiff[trt]'" in line
    assert not engine.exists()
    onnx_path = tmp_path / "net.engine.onnx"
    assert onnx_path.exists() and (tmp_path / "net.engine.onnx.json").exists()
    assert onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # portable


def fake_tensorrt(version: str, fp16_flag: bool) -> tuple[types.ModuleType, dict]:
    """A stand-in with the shape of the tensorrt Python API: TensorRT 10 (FP16 flag) or 11 (strongly typed)."""
    calls: dict = {"flags": []}
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.BuilderFlag = types.SimpleNamespace(**({"FP16": "FP16"} if fp16_flag else {}), TF32="TF32")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=5)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)

    class Logger:
        WARNING, ERROR = 2, 1

        def __init__(self, level):
            pass

    class Parser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            model = onnx.load(path)
            onnx.checker.check_model(model)
            calls["onnx_dtype"] = model.graph.input[0].type.tensor_type.elem_type
            return True

    class Config:
        def set_memory_pool_limit(self, pool, size):
            calls["workspace"] = size

        def set_flag(self, flag):
            calls["flags"].append(flag)

        def add_optimization_profile(self, profile):
            calls["profile"] = profile.shapes

    class Profile:
        def set_shape(self, name, low, opt, high):
            self.shapes = (name, low, opt, high)

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls["network_flags"] = flags
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return b"serialized-engine"

    trt.Logger, trt.OnnxParser, trt.Builder = Logger, Parser, Builder
    return trt, calls


@pytest.mark.parametrize("version,fp16_flag", [("10.13.0", True), ("11.0.0", False)])
def test_trt_python_api_precision_per_version(cli, tmp_path, monkeypatch, version, fp16_flag, cheap_arch):
    trt, calls = fake_tensorrt(version, fp16_flag)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    engine = tmp_path / "net.engine"
    result = cli("export", cheap_arch, "--format", "trt", "--precision", "fp16", "--dynamic-batch", "--batch", "4",
                 "--output", str(engine), "--json")
    assert result.code == 0, result.err
    onnx_doc, engine_doc = json.loads(result.out)
    assert engine.read_bytes() == b"serialized-engine"
    built = engine_doc["exporter"]
    assert built["tensorrt"] == version and built["builder"] == "tensorrt python API"
    assert calls["profile"] == ("input", (1, 3, 32, 32), (4, 3, 32, 32), (32, 3, 32, 32))
    if fp16_flag:  # TensorRT 10: fp32 ONNX, FP16 builder flag, weakly typed network
        assert calls["flags"] == ["FP16"] and calls["network_flags"] == 0
        assert calls["onnx_dtype"] == onnx.TensorProto.FLOAT and not built["strongly_typed"]
    else:  # TensorRT 11: fp16 ONNX, strongly typed network, no flag
        assert calls["flags"] == [] and calls["network_flags"] == 1 << 5
        assert calls["onnx_dtype"] == onnx.TensorProto.FLOAT16 and built["strongly_typed"]
    assert onnx_doc["path"].endswith("net.engine.onnx") and engine_doc["parity"]["onnx"]["passed"]


FAKE_TRTEXEC = """#!{python}
# A stand-in for trtexec 10.3: builds by copying the ONNX model, runs it with ONNX Runtime, logs its arguments.
import json, sys
import numpy as np
import onnxruntime as ort
print("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec " + " ".join(sys.argv[1:]))
args = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in sys.argv[1:])
with open("{log}", "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if "saveEngine" in args:
    open(args["saveEngine"], "wb").write(open(args["onnx"], "rb").read())
elif "exportOutput" in args:
    session = ort.InferenceSession(args["loadEngine"], providers=["CPUExecutionProvider"])
    info = session.get_inputs()[0]
    x = np.fromfile(args["loadInputs"].split(":", 1)[1], dtype=np.float32).reshape(info.shape)
    y = session.run(None, {{info.name: x}})[0]
    json.dump([{{"name": "logits", "dimensions": "x".join(map(str, y.shape)), "values": y.ravel().tolist()}}],
              open(args["exportOutput"], "w"))
else:
    print("[I] GPU Compute Time: min = 0.5 ms, max = 0.9 ms, mean = 0.61 ms, median = 0.6 ms, percentile(90%) = 0.7 ms")
"""


def test_trt_through_trtexec(cli, tmp_path, monkeypatch, cheap_arch):
    """Jetson-style: no Python module, a trtexec binary (here a script that logs its arguments): it builds, runs
    the engine on the parity inputs (--loadInputs/--exportOutput) and times it (GPU Compute Time)."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "trtexec.args"
    script = bin_dir / "trtexec"
    script.write_text(FAKE_TRTEXEC.format(python=sys.executable, log=log))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = cli("export", cheap_arch, "--format", "trt", "--output", str(tmp_path / "x.engine"), "--json")
    assert result.code == 0, result.err
    engine_doc = json.loads(result.out)[-1]
    assert engine_doc["exporter"]["tensorrt"] == "10.3" and engine_doc["exporter"]["builder"].startswith("trtexec")
    build_args, *run_args, time_args = log.read_text().splitlines()[1:]  # after the version probe
    assert "--skipInference" in build_args and "x.engine.onnx" in build_args and "--fp16" not in build_args
    assert len(run_args) == 3 and all("--exportOutput=" in a and "--loadInputs=input:" in a for a in run_args)
    assert time_args.startswith("--loadEngine=")
    assert engine_doc["parity"]["engine"]["passed"] and engine_doc["parity"]["engine"]["max_abs_error"] <= 1e-4
    assert engine_doc["measurement"]["median_ms"] == 0.6 and engine_doc["measurement"]["timer"].startswith("trtexec")
    assert engine_doc["built_on"]["tensorrt"] == "10.3" and engine_doc["engine_not_run"] is None
    fp16 = cli("export", cheap_arch, "--format", "trt", "--precision", "fp16", "--output", str(tmp_path / "h.engine"))
    assert fp16.code == 0, fp16.err
    assert "--fp16" in [line for line in log.read_text().splitlines() if "--saveEngine" in line][-1]


def test_parity_failure_writes_nothing(cli, tmp_path, cheap_arch):
    """fp16 cannot meet a 1e-12 tolerance: the check fails and no file (nor temporary) is left."""
    out = tmp_path / "half.torchscript.pt"
    result = cli("export", cheap_arch, "--format", "torchscript", "--precision", "fp16", "--atol", "1e-12",
                 "--rtol", "0", "--output", str(out))
    assert result.code == 2 and "parity check failed" in result.err and "nothing written" in result.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed, head", [(17, b"\x80\x02"), (62, b""), (54, b""), (0, b"")])
def test_any_corrupt_checkpoint_is_one_error(tmp_path, seed, head):
    """Random bytes fail inside torch's unpickler in many ways (IndexError, KeyError, UnicodeDecodeError, ...):
    every one is the same one-line error, and torch's protocol warning is not printed."""
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(head + np.random.default_rng(seed).bytes(256 - len(head)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(HwdiffError, match="is corrupt or not a PyTorch file"):
            load_checkpoint(corrupt)


def test_bad_export_input_is_one_line(cli, tmp_path, cheap_arch, read_only_dir):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(256))
    bare = tmp_path / "bare.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), bare)
    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)
    cases = [
        (("--format", "tflite"), "unknown --format 'tflite'; accepted: onnx, torchscript, trt"),
        (("--precision", "int8"), "unknown --precision 'int8'"),
        (("--output", str(tmp_path / "missing" / "x.onnx")), "does not exist; create it"),
        (("--output", str(read_only_dir / "x.onnx")), "not writable"),
        ((str(corrupt),), "is corrupt or not a PyTorch file"),
        ((str(bare),), "not an hwdiff finetune checkpoint (it holds a bare state_dict"),
        ((str(pickled),), "weights-only load refuses"),
        ((str(tmp_path / "nope.pt"),), "does not exist"),
        (("|bogus~0|",), "malformed NB201 cell"),
    ]
    for args, message in cases:
        source = (cheap_arch,) if args[0].startswith("--") else ()
        result = cli("export", *source, *args)
        assert result.code == 2, (args, result.out)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, result.err)


EFFNET_SMALL = "e1k3l1-e1k3l1-e1k3l1-e1k3l1-e1k3l1-e1k3l1-e1k3l1"


def test_effnet_export_parity_at_224(cli, tmp_path):
    [doc] = export_json(cli, EFFNET_SMALL, "--space", "effnet", "--output", str(tmp_path))
    assert doc["source"]["space"] == "effnet" and doc["source"]["dataset"] == "imagenet"
    assert doc["input"]["shape"] == [1, 3, 224, 224] and doc["output"]["shape"] == [1, 1000]
    assert doc["parity"]["max_abs_error"] <= 1e-4
    onnx.checker.check_model(doc["path"], full_check=True)


def test_effnet_finetune_then_export(tmp_path, cli):
    """The deploy path is space-generic: an effnet network trains on an ImageFolder and exports from its run."""
    data = make_synthetic_image_folder(tmp_path / "data", classes=3, per_class=8, val_per_class=2, size=32)
    run = finetune(dict(arch=EFFNET_SMALL, space="effnet", data=str(data), epochs=1, batch_size=8, img_size=32,
                        workers=0, lr=0.01), output=tmp_path / "run")
    assert run.config.space == "effnet" and len(run.history) == 1
    [doc] = export_json(cli, str(tmp_path / "run"), "--output", str(tmp_path / "eff.onnx"))
    assert doc["source"]["space"] == "effnet" and doc["output"]["shape"] == [1, 3]
    assert doc["input"]["shape"] == [1, 3, 32, 32] and doc["parity"]["passed"]
