"""A latency budget met with a stated confidence: the bound a search aims at (``search/margin.py``)."""

from __future__ import annotations

import math

import pytest

from hwdiff import api
from hwdiff.errors import HwdiffError
from hwdiff.hardware import find_profile
from hwdiff.search.constraints import Constraints
from hwdiff.search.margin import aimed_constraints, latency_margin


def test_bound_is_the_budget_lowered_by_the_spread_at_the_confidence():
    margin = latency_margin(10.0, 0.9, 0.1, fastest_ms=1.0)
    assert margin.bound_ms == pytest.approx(10.0 * math.exp(-1.2815516 * 0.1))
    assert margin.confidence == pytest.approx(0.9) and margin.budget_ms == 10.0 and margin.log_sd == 0.1
    assert latency_margin(10.0, 0.97, 0.1, 1.0).bound_ms < margin.bound_ms  # surer: lower


def test_bound_stops_at_the_fastest_network_and_says_what_it_reached():
    margin = latency_margin(10.0, 0.99, 0.5, fastest_ms=8.0)
    assert margin.bound_ms == 8.0
    assert margin.confidence == pytest.approx(0.5 + math.erf(math.log(10 / 8) / 0.5 / math.sqrt(2)) / 2)


@pytest.mark.parametrize("budget, confidence, spread, fastest", [
    (10.0, 0.9, 0.0, 1.0),  # a measured table: nothing to keep
    (10.0, 0.5, 0.2, 1.0),  # aim at the budget itself
    (10.0, 0.9, 0.2, 12.0),  # nothing within the budget anyway: the search says so itself
])
def test_no_margin(budget, confidence, spread, fastest):
    assert latency_margin(budget, confidence, spread, fastest) is None


def test_aimed_constraints_lower_only_the_latency_bound():
    wanted = Constraints(accuracy=0.9, latency_ms=10.0)
    aimed, margin = aimed_constraints(wanted, 0.9, 0.1, 1.0)
    assert aimed.accuracy == 0.9 and aimed.latency_ms == margin.bound_ms < 10.0
    assert aimed_constraints(Constraints(accuracy=0.9), 0.9, 0.1, 1.0) == (Constraints(accuracy=0.9), None)
    assert aimed_constraints(wanted, None, 0.1, 1.0) == (wanted, None)


@pytest.mark.parametrize("value", [0.4, 1.0, 1.5, float("nan"), -0.9])
def test_confidence_out_of_range_is_one_line(value):
    with pytest.raises(HwdiffError, match=r"--confidence .*: give a probability from 0.5"):
        api.SearchRequest(confidence=value)


def test_search_cli_refuses_a_bad_confidence(assert_refused):
    assert_refused("search", "--latency", "5ms", "--confidence", "1", option="--confidence")


def test_measured_tables_have_no_spread_and_estimates_have_one():
    assert find_profile("pixel3", "nb201").log_error_sd == 0.0
    effnet = find_profile("a100", "effnet")  # a latency model stating its k-fold MAPE only
    assert effnet.log_error_sd == pytest.approx(effnet.validation["mape"] / 100 * math.sqrt(math.pi / 2))
