import json

import pytest

from hwdiff.spaces.effnet import B0

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_build_effnet_json(cli):
    result = cli("build", B0, "--space", "effnet", "--device", "a100", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["dataset"] == "imagenet" and doc["num_classes"] == 1000 and doc["input_size"] == [3, 224, 224]
    assert doc["params"] == 5_288_548 and doc["macs"] == 385_814_752
    assert doc["details"]["macs_thop"] == 415_145_024
    assert doc["details"]["timm_blocks"][0] == "ds_r1_k3_s1_e1_c16_se0.25"
    acc = doc["accuracy"]
    assert acc["source"] == "predictor" and acc["metric"] == "proxy-trained ImageNet top-1 (predicted)"
    assert 0.55 < acc["value"] < 0.7 and 0 < acc["std"] < 0.02
    lat = doc["latency"]
    assert lat["device"] == "a100" and lat["kind"] == "model" and 0.02 < lat["ms"] < 0.3
    assert lat["validation"]["mape"] <= 5


def test_build_effnet_table(cli):
    result = cli("build", B0, "--space", "effnet", "--device", "3090")
    assert result.code == 0, result.err
    out = " ".join(result.out.split())  # rich wraps long lines at the terminal width
    assert "proxy-trained ImageNet top-1 (predicted)" in out and "±" in out and "[predictor]" in out
    assert "timm blocks: ds_r1_k3_s1_e1_c16_se0.25 ir_r2_k3_s2_e6_c24_se0.25" in out
    assert "latency on rtx3090:" in out and "held-out MAPE" in out and "415.15 M" in out


def test_build_nb201_keeps_working(cli):
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    doc = json.loads(cli("build", cell, "--json").out)
    assert doc["dataset"] == "cifar10" and doc["accuracy"]["source"] == "table" and doc["latency"] is None
    assert doc["accuracy"]["value"] == pytest.approx(0.9436, abs=1e-3) and doc["details"] == {}
    doc = json.loads(cli("build", cell, "--device", "pixel3", "--json").out)
    assert doc["latency"]["kind"] == "table" and doc["latency"]["ms"] > 0


@pytest.mark.parametrize("args, message", [
    (("build", "e1k3l1s-e6k3l2s", "--space", "effnet"), "has 2 stage(s); expected 7 stages"),
    (("build", B0.replace("e1k3", "e2k3"), "--space", "effnet"), "expansion 2 is not a choice; accepted: 1, 4, 6"),
    (("build", B0.replace("e6k5l4s", "e6k5l5s"), "--space", "effnet"), "5 layers is not a choice"),
    (("build", B0.replace("e1k3l1s", "e1k3s"), "--space", "effnet"), "stage 1 'e1k3s' of effnet arch"),
    (("build", B0, "--space", "effnet", "--device", "pixel3"),
     "no profile for device 'pixel3' and space 'effnet'; devices with a effnet profile: a100"),
    (("build", B0, "--space", "effnet", "--device", "tpu9"), "unknown device 'tpu9'"),
    (("build", B0, "--space", "effnet", "--dataset", "cifar10"),
     "unknown dataset 'cifar10' for space 'effnet'; accepted: imagenet"),
])
def test_bad_input_is_one_line(cli, args, message):
    result = cli(*args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
