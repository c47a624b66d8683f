"""The few-shot latency model's adaptation: the mixture prior, the Student-t noise, any number of networks.
Measurements are rows of the shipped tables and the model is the shipped nb201 one."""

import numpy as np
import pytest

from hwdiff.hardware import find_profile
from hwdiff.hardware.transfer import load_transfer_model
from hwdiff.metrics import spearman
from hwdiff.spaces import get_space

ALL = get_space("nb201").enumerate()


@pytest.fixture(scope="module")
def transfer():
    return load_transfer_model("nb201")


def rows(n: int, seed: int = 0) -> list[str]:
    return [ALL[i] for i in np.random.default_rng(seed).choice(len(ALL), n, replace=False)]


def test_a_device_like_a_source_is_recognised_from_few_networks(transfer):
    """Five networks of a device that behaves exactly like one source device: the fit lands on that device's
    head (a single broad Gaussian prior cannot pin 24 weights down from 5 numbers: 17 % off, nearest to
    essential_ph_1)."""
    d = transfer.source_devices.index("pixel2")
    archs = rows(5)
    fit = transfer.adapt(archs, np.exp(transfer.source_log_latency(archs)[:, d]))
    head = transfer.source_heads[d]
    assert np.linalg.norm(fit.weights - head) < 0.05 * np.linalg.norm(head)
    assert transfer.nearest_sources(fit, k=1)[0][0] == "pixel2"


def test_one_network_timed_while_something_else_ran_does_not_bend_the_fit(transfer):
    archs = rows(20)
    measured = find_profile("fpga", "nb201").predict(archs)
    clean = transfer.adapt(archs, measured)
    disturbed = measured.copy()
    disturbed[3] *= 5.0
    robust = transfer.adapt(archs, disturbed)
    sample = ALL[::31]
    assert spearman(transfer.predict_ms(clean, sample), transfer.predict_ms(robust, sample)) > 0.995
    assert robust.noise < 4 * clean.noise  # the outlier is down-weighted, not absorbed into the noise


def test_thousands_of_networks_fit_like_a_least_squares_projection(transfer):
    """The likelihood is computed in the basis' dimension: a fit on 5,000 networks is cheap, and with that
    many the prior no longer matters (the Student-t fit still differs a little from least squares)."""
    archs = rows(5000, seed=1)
    measured = find_profile("gold_6226", "nb201").predict(archs)
    fit = transfer.adapt(archs, measured)
    projected = transfer.project(archs, measured)
    assert np.linalg.norm(fit.weights - projected.weights) < 0.05 * np.linalg.norm(projected.weights)
    sample = ALL[::31]
    assert spearman(transfer.predict_ms(fit, sample), transfer.predict_ms(projected, sample)) > 0.995
    assert 0 < fit.noise < fit.log_sd ** 2 < 0.01  # gold_6226: a few % of spread
