import numpy as np
import pytest

from hwdiff.data import AccuracyMetric, nb201_benchmark
from hwdiff.errors import HwdiffError
from hwdiff.hardware import find_profile, load_catalog

BENCH = nb201_benchmark()
INDEX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_200_epoch_maxima():
    maxima = {d: BENCH.accuracies(AccuracyMetric(d)).max() for d in ("cifar10", "cifar100", "imagenet16")}
    assert {d: round(v, 2) for d, v in maxima.items()} == {"cifar10": 94.37, "cifar100": 73.51,
                                                            "imagenet16": 47.31}


def test_accuracy_of_one_arch_and_metrics():
    assert BENCH.accuracy(INDEX1, AccuracyMetric("cifar10")) == pytest.approx(93.66)
    assert BENCH.accuracy(INDEX1, AccuracyMetric("cifar10", 12, "valid")) == pytest.approx(82.834)
    assert BENCH.accuracy(INDEX1, AccuracyMetric("imagenet16", 12, "test")) == pytest.approx(33.8)
    several = BENCH.accuracy([INDEX1, INDEX1], AccuracyMetric("cifar100"))
    assert several.shape == (2,) and several[0] == pytest.approx(70.2933, abs=1e-3)


def test_twelve_epoch_maxima_are_lower():
    for d in ("cifar10", "cifar100", "imagenet16"):
        assert BENCH.accuracies(AccuracyMetric(d, 12, "valid")).max() < BENCH.accuracies(AccuracyMetric(d)).max()


def test_unknown_metric_or_dataset():
    with pytest.raises(HwdiffError, match="accepted: cifar10, cifar100, imagenet16"):
        AccuracyMetric("mnist")
    with pytest.raises(HwdiffError, match="no nb201 metric train@200"):
        AccuracyMetric("cifar10", 200, "train")


def test_isomorphism_classes():
    classes = BENCH.isomorphism_classes()
    assert classes.shape == (15625,) and len(np.unique(classes)) == 6466


def test_shipped_latency_tables():
    catalog = load_catalog()
    assert catalog.problems == []
    nb201 = {p.device for p in catalog.for_space("nb201")}
    assert len(nb201) == 24
    assert {"pixel3", "raspi4", "fpga", "eyeriss", "titan_rtx_1", "gold_6226"} <= nb201
    # HW-NAS-Bench's own example values for index 1 (CIFAR-10).
    for device, value in {"raspi4": 54.7774, "pixel3": 17.2381, "eyeriss": 7.57778, "fpga": 5.31536}.items():
        assert find_profile(device, "nb201").predict([INDEX1])[0] == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize("content", [b"not a numpy file", b"PK\x03\x04" + b"x" * 100])
def test_corrupt_shipped_table_is_one_line(tmp_path, content):
    from hwdiff.data.nb201 import NB201Benchmark

    bad = tmp_path / "nb201.npz"
    bad.write_bytes(content)
    with pytest.raises(HwdiffError, match=r"cannot read the shipped NB201 table .*nb201\.npz"):
        NB201Benchmark(bad)
