"""The shared generator: one per (space, dataset), conditioned on the device through its profile."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwdiff.diffusion.pipeline import Guidance
from hwdiff.diffusion.training import TrainConfig
from hwdiff.errors import HwdiffError
from hwdiff.generator.context import SearchContext, resolve_context
from hwdiff.generator.device_condition import DeviceEncoder, describe_device
from hwdiff.generator.shared import device_latencies, load_shared, shared_model, train_shared
from hwdiff.generator.store import save_model_dir
from hwdiff.hardware.fewshot import FewShotProfile
from hwdiff.hardware.transfer import load_transfer_model
from hwdiff.search.config import check_generator_choice
from hwdiff.spaces import get_space

SOURCES = ("fpga", "pixel3", "titan_rtx_1")


@pytest.fixture(scope="module")
def transfer():
    return load_transfer_model("nb201")


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory, transfer):
    """A shared generator of nb201/cifar10 trained briefly on three shipped devices (and synthetic ones)."""
    sources = {d: v for d, v in device_latencies("nb201").items() if d in SOURCES}
    generator, meta = train_shared("nb201", "cifar10", transfer, sources, train=TrainConfig(steps=40))
    return save_model_dir(tmp_path_factory.mktemp("shared") / "nb201-cifar10", generator, meta)


def test_device_vector_keeps_the_components_that_vary(transfer):
    encoder = DeviceEncoder.fit(transfer)
    var = transfer.source_heads.var(axis=0)
    assert var[list(encoder.components)].sum() >= 0.99 * var.sum()
    assert list(var[list(encoder.components)]) == sorted(var[list(encoder.components)], reverse=True)
    vectors = np.stack([encoder.encode(transfer.project(*_table("nb201", d))) for d in SOURCES])
    assert np.abs(vectors).max() <= 4.0
    assert np.linalg.matrix_rank(vectors) == len(SOURCES)  # three devices, three different descriptions


def _table(space: str, device: str) -> tuple[list[str], np.ndarray]:
    archs = get_space(space).enumerate()
    return archs, device_latencies(space)[device]


def test_projecting_a_few_shot_profile_gives_back_its_fit(transfer):
    archs, latency = _table("nb201", "raspi4")
    pick = np.random.default_rng(0).choice(len(archs), 20, replace=False)
    profile = FewShotProfile.fit(device="board", space="nb201", dataset="cifar10", archs=[archs[i] for i in pick],
                                 latency_ms=latency[pick], provenance={"source": "test"})
    projected = transfer.project(archs, profile.predict(archs))
    assert np.allclose(projected.weights, profile.device_fit.weights, atol=1e-6)
    assert projected.offset == pytest.approx(profile.device_fit.offset, abs=1e-6)


def test_shared_generator_binds_to_any_profile_and_samples(shared_dir, transfer):
    generator, meta = load_shared("nb201", "cifar10", shared_dir)
    assert generator.shared and meta["source_devices"] == sorted(SOURCES)
    assert meta["synthetic_devices"] > 0
    table = shared_model(resolve_context("nb201", "cifar10", "pixel3"), folder=shared_dir)
    archs, latency = _table("nb201", "raspi4")  # never a source of this generator
    pick = np.random.default_rng(1).choice(len(archs), 20, replace=False)
    few = FewShotProfile.fit(device="raspi4", space="nb201", dataset="cifar10", archs=[archs[i] for i in pick],
                             latency_ms=latency[pick], provenance={"source": "test"})
    space = get_space("nb201")
    fewshot = shared_model(SearchContext(space, "cifar10", space.accuracy_oracle("cifar10"), few, "raspi4"),
                           folder=shared_dir)
    assert table.generator.device is not None and fewshot.generator.device is not None
    assert not np.allclose(table.generator.device.vector, fewshot.generator.device.vector)
    budget = float(np.percentile(table.training.latency_ms, 50))
    out = table.generator.sample(np.full(64, 0.9), np.full(64, budget), seed=0)
    assert sum(a is not None for a in out) >= 32
    composed = table.generator.sample(np.full(64, 0.9), np.full(64, budget), Guidance("composed", (1.0, 3.0)), seed=0)
    assert sum(a is not None for a in composed) >= 32  # one weight per bound: the device is not guided
    with pytest.raises(ValueError, match="device"):
        generator.sample(np.full(4, np.nan), np.full(4, budget))  # unbound: no latency scale to read it on
    assert len(generator.sample(np.full(4, np.nan), np.full(4, np.nan))) == 4  # unconditioned still works


def test_a_profile_that_does_not_cover_the_space_is_refused(shared_dir, transfer):
    generator, _ = load_shared("nb201", "cifar10", shared_dir)
    archs, latency = _table("nb201", "fpga")
    latency = latency.copy()
    latency[:10] = np.nan
    with pytest.raises(HwdiffError, match="10 of the 15625 architectures"):
        describe_device(generator.device_encoder, transfer, archs, latency, "profile x")


def test_broken_or_foreign_shared_generators_are_one_line(shared_dir, tmp_path):
    broken = tmp_path / "nb201-cifar10"
    broken.mkdir()
    (broken / "meta.json").write_text((shared_dir / "meta.json").read_text())
    (broken / "model.pt").write_bytes((shared_dir / "model.pt").read_bytes()[:100])
    with pytest.raises(HwdiffError, match="does not match meta.json"):
        load_shared("nb201", "cifar10", broken)
    meta = json.loads((shared_dir / "meta.json").read_text())
    (broken / "model.pt").write_bytes((shared_dir / "model.pt").read_bytes())
    (broken / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(HwdiffError, match="format 1"):
        load_shared("nb201", "cifar10", broken)
    with pytest.raises(HwdiffError, match="not a shared generator of nb201/cifar100"):
        load_shared("nb201", "cifar100", shared_dir)
    assert load_shared("nb201", "cifar10", tmp_path / "none") is None


def test_a_shared_generator_of_another_transfer_model_is_refused(shared_dir, transfer):
    from hwdiff.hardware.transfer import fit_transfer_model
    from tools.fit_latency_transfer import shipped_sources

    other = fit_transfer_model("nb201", {d: v for d, v in shipped_sources("nb201").items() if d != "pixel3"})
    with pytest.raises(HwdiffError, match="another few-shot latency model"):
        shared_model(resolve_context("nb201", "cifar10", "fpga"), folder=shared_dir, transfer=other)


@pytest.mark.parametrize("generator, labels, steps, message", [
    ("bogus", None, None, "accepted: device, shared, auto"),
    ("shared", 50, None, "does not go with --labels"),
    ("shared", None, 100, "does not go with --train-steps"),
])
def test_generator_choice_is_checked(generator, labels, steps, message):
    with pytest.raises(HwdiffError, match=message):
        check_generator_choice(generator, labels, steps)


def test_search_cli_refuses_a_bad_generator_choice(assert_refused):
    assert_refused("search", "--generator", "bogus", option="--generator")
    assert_refused("search", "--generator", "shared", "--labels", "50", option="--generator")


def test_search_answers_from_the_shared_generator_without_training(shared_dir, cli, hwdiff_home, monkeypatch, tmp_path):
    import hwdiff.generator.shared as shared

    monkeypatch.setattr(shared, "SHARED_DIR", shared_dir.parent)
    archs, latency = _table("nb201", "raspi4")
    pick = np.random.default_rng(2).choice(len(archs), 12, replace=False)
    table = tmp_path / "board.csv"
    table.write_text("arch,latency_ms\n" + "".join(f"{archs[i]},{latency[i]:.4f}\n" for i in pick))
    assert cli("profile", "--device", "my-board", "--from-table", str(table)).code == 0
    budget = f"{np.percentile(latency, 50):.3f}ms"
    result = cli("search", "--device", "my-board", "--latency", budget, "--samples", "60", "--steps", "5", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["generator"]["kind"] == "shared" and doc["generator"]["reused"]
    bound = doc["margin"]["bound_ms"]  # aimed below the budget by the few-shot profile's stated spread
    assert bound < float(budget[:-2]) and doc["constraints"]["latency_ms"] == float(budget[:-2])
    assert doc["candidates"] and all(c["latency_ms"] <= bound for c in doc["candidates"])
    assert not (hwdiff_home / "models").exists()  # nothing trained, nothing stored
    at_budget = cli("search", "--device", "my-board", "--latency", budget, "--samples", "60", "--steps", "5",
                    "--confidence", "0.5", "--json")
    assert json.loads(at_budget.out)["margin"] is None
    trained = cli("search", "--device", "my-board", "--latency", budget, "--samples", "20", "--steps", "3",
                  "--train-steps", "5", "--json")
    assert json.loads(trained.out)["generator"]["kind"] == "device"
    text = cli("search", "--device", "my-board", "--latency", budget, "--samples", "20", "--steps", "3")
    assert "generator: shared nb201/cifar10 (shipped, no training" in text.out
    assert f"aimed at ≤ {bound:.4g} ms, so that a network meets {float(budget[:-2]):g} ms" in " ".join(text.out.split())
