"""Property-based: the parsers of user text (latency, accuracy, architecture strings, CSV rows of
``profile --from-table``) never fail with anything but a one-line ``HwdiffError``, and canonical architecture
strings are fixed points."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given, settings
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


# -- CSV rows of `hwdiff profile --from-table` --------------------------------------------------------
_NB201 = get_space("nb201").enumerate()
_ARCH_CELL = st.one_of(st.sampled_from(_NB201[:40]), _nb201_like(), st.text(max_size=12),
                       st.sampled_from(_NB201[:40]).map(str.upper), st.sampled_from(["", " ", '"', "arch"]))
_LATENCY_CELL = st.one_of(st.floats(min_value=1e-3, max_value=1e3).map(repr), st.floats().map(repr), NUMBERISH,
                          st.sampled_from(["", "1e300", "-0", "0", "nan", "1,5", '"2"', "3 ms", "1e-320"]))
_ROW = st.one_of(st.tuples(_ARCH_CELL, _LATENCY_CELL), st.tuples(_ARCH_CELL), st.tuples(_ARCH_CELL, _LATENCY_CELL,
                                                                                         st.text(max_size=5)))
_CLEAN_ROW = st.tuples(st.sampled_from(_NB201[:40]), st.floats(min_value=0.5, max_value=50).map(repr))
_ROWS = st.one_of(st.lists(_ROW, max_size=30),  # anything
                  st.lists(_CLEAN_ROW, min_size=1, max_size=30, unique_by=lambda row: row[0]),  # a careful user
                  st.builds(lambda clean, bad: clean + bad,
                            st.lists(_CLEAN_ROW, min_size=5, max_size=20, unique_by=lambda row: row[0]),
                            st.lists(_ROW, max_size=2)))  # ... with a stray row or two at the end
_HEADER = st.sampled_from([("arch", "latency_ms")] * 4 + [("latency_ms", "arch"), (" arch ", " latency_ms"),
                           ("arch",), ("arch", "latency_ms", "note"), ("ARCH", "latency"), ()])


def _csv_text(header: tuple[str, ...], rows: list[tuple[str, ...]], quoted: bool) -> str:
    if quoted:
        out = io.StringIO()
        csv.writer(out).writerows([header, *rows])
        return out.getvalue()
    return "\n".join(",".join(cells) for cells in [header, *rows])


@settings(max_examples=150, deadline=None)
@given(_HEADER, _ROWS, st.booleans())
def test_csv_rows_import_or_refuse_in_one_line(header, rows, quoted):
    from hwdiff.hardware.profiles import MAX_LATENCY_MS, read_profile
    from hwdiff.hardware.table_import import import_latency_table

    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "rows.csv"
        table.write_text(_csv_text(header, rows, quoted), encoding="utf-8", errors="surrogatepass")
        out = Path(folder) / "board-nb201.json"
        try:
            import_latency_table(table, device="board", space="nb201", out=out)
        except HwdiffError as exc:
            assert "\n" not in str(exc) and not out.exists()
            event("refused")
        else:
            event(f"imported as {read_profile(out).kind}")
            profile = read_profile(out)  # what was written reads back, every figure finite and in range
            predicted = profile.predict(_NB201[:40])
            assert all(math.isfinite(v) and 0 < v <= MAX_LATENCY_MS for v in predicted)
