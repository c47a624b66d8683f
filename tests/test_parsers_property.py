"""Property-based: the parsers of user text (latency, accuracy, architecture strings) never fail with
anything but a one-line ``HwdiffError``, and canonical architecture strings are fixed points."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwdiff.errors import HwdiffError, InvalidArchError
from hwdiff.search.constraints import parse_accuracy, parse_latency
from hwdiff.spaces import get_space

QUICK = settings(max_examples=120, deadline=None)  # about 10 s for the four
NUMBERISH = st.text(alphabet="0123456789.eE+-%µsmu \t\u0660\u0663\uff11\u00b2", max_size=12)
TEXT = st.one_of(NUMBERISH, st.text(max_size=20), st.floats(allow_nan=True).map(str))


@QUICK
@given(TEXT)
def test_parse_latency_gives_a_positive_finite_value_or_one_line(text):
    try:
        value = parse_latency(text)
    except HwdiffError as exc:
        assert "\n" not in str(exc)
    else:
        assert math.isfinite(value) and value > 0


@QUICK
@given(TEXT)
def test_parse_accuracy_gives_a_fraction_or_one_line(text):
    try:
        value = parse_accuracy(text)
    except HwdiffError as exc:
        assert "\n" not in str(exc)
    else:
        assert 0 < value <= 1


def _nb201_like() -> st.SearchStrategy[str]:
    """Strings near NB201 cells: real ops and separators, any case, stray digits of other scripts."""
    op = st.sampled_from(["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "NOR_CONV_3X3",
                          "Skip_Connect", "conv", ""])
    src = st.sampled_from(["0", "1", "2", "3", "00", "\u0660", "\uff11", "\u00b2", "", "-1"])
    entry = st.builds(lambda o, s: f"{o}~{s}", op, src)
    group = st.lists(entry, min_size=0, max_size=4).map(lambda es: "|" + "|".join(es) + "|")
    return st.lists(group, min_size=1, max_size=4).map("+".join)


def _effnet_like() -> st.SearchStrategy[str]:
    """Strings near effnet archs: stage tokens with any case, out-of-range values and foreign digits."""
    digit = st.sampled_from(["1", "2", "3", "4", "5", "6", "0", "9", "\uff11", "\u0663", "\u212a"])
    stage = st.builds(lambda e, k, n, se, up: (f"e{e}k{k}l{n}{se}".upper() if up else f"e{e}k{k}l{n}{se}"),
                      digit, digit, digit, st.sampled_from(["", "s", "S", "x"]), st.booleans())
    return st.lists(stage, min_size=1, max_size=8).map("-".join)


@pytest.mark.parametrize("space, strings", [("nb201", _nb201_like()), ("effnet", _effnet_like())])
def test_canonical_is_a_fixed_point_or_one_line(space, strings):
    sp = get_space(space)

    @QUICK
    @given(st.one_of(strings, st.text(max_size=30)))
    def check(text):
        try:
            canonical = sp.canonical(text)
        except InvalidArchError as exc:
            assert "\n" not in str(exc)
        else:
            assert canonical.isascii() and sp.canonical(canonical) == canonical
            assert canonical == sp.canonical(text.strip().upper())  # case does not matter, on purpose

    check()
