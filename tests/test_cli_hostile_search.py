"""Hostile values for every option of the search side of the CLI (search, train, predict, eval, bench-search).

Each is refused before any work: a non-zero exit, one line naming the option, no traceback, nothing
written under $HWDIFF_HOME (``assert_refused`` in conftest.py). The classes of issue 21: empty,
negative, zero, NaN, inf, huge, other scripts' digits, wrong units, paths that are directories,
missing, unwritable or garbage.
"""

from __future__ import annotations

import pytest

HUGE = "99999999999999999999999"
ARABIC_3, FULLWIDTH_1 = "\u0663", "\uff11"  # '٣' and '１': digits int() and float() would accept
NOT_AN_INT = ["", " ", "nan", "inf", "-inf", "1.5", "1e3", ARABIC_3, f"1{FULLWIDTH_1}", "0x10", "ten"]
SEED = ["-1", "4294967296", HUGE, *NOT_AN_INT]
COUNT = ["-1", "0", HUGE, *NOT_AN_INT]  # top, samples, steps, train-steps, labels, budget, ...
NAME = ["", " ", "../../x/evil", "/etc/passwd", "x" * 300, "CIFAR10\x00", "nb201\n"]
LATENCY = ["", "-1ms", "0", "0ms", "nan", "inf", "1e400ms", "1e-400ms", "10kg", "ms", f"{ARABIC_3}ms",
           f"1{FULLWIDTH_1}ms", "10 ms ms", "0.001ms"]
ACCURACY = ["", "-0.5", "0", "nan", "inf", "1.2", "120%", "93 percent", "0.93kg", f"0.{ARABIC_3}", "1e400"]
WEIGHTS = ["", "nan", "inf", "-inf", "1e400", "1e300", "-1001", "1,", ",", "a", ARABIC_3, f"{FULLWIDTH_1}"]
NB201_ARCHS = ["", " ", "|nor_conv_3x3~\u0660|+|none~0|none~1|+|none~0|none~1|none~2|",
               "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~\u00b2|", "|bad|", "~0", "x" * 10000,
               "|nor_conv_3x3~99999999999999999999|+|none~0|none~1|+|none~0|none~1|none~2|"]
EFFNET_ARCHS = ["", f"e{FULLWIDTH_1}k3l1-e6k3l2-e6k5l2-e6k3l3-e6k5l3-e6k5l4-e6k3l1",
                "e1\u212a3l1-e6k3l2-e6k5l2-e6k3l3-e6k5l3-e6k5l4-e6k3l1",  # the Kelvin sign lower-cases to k
                "e1k3l1", "e1k3l99999999999999999999-e6k3l2-e6k5l2-e6k3l3-e6k5l3-e6k5l4-e6k3l1"]


def _cases(command: tuple[str, ...], table: dict[str, list[str]]) -> list:
    return [pytest.param(command, option, value, id=f"{' '.join(command)} {option} {value[:20]!r}")
            for option, values in table.items() for value in values]


SEARCH = {"--seed": SEED, "--top": COUNT, "--samples": [*COUNT, "100001"], "--steps": [*COUNT, "501"],
          "--train-steps": [*COUNT, "1000001"], "--labels": [*COUNT, "15626", "100000000"],
          "--space": NAME, "--dataset": NAME, "--device": NAME, "--latency": LATENCY, "--acc": ACCURACY,
          "--weights": WEIGHTS, "--guidance": ["", "sideways", "JOINT"]}
TRAIN = {"--seed": SEED, "--train-steps": [*COUNT, "1000001"], "--labels": [*COUNT, "15626"], "--space": NAME,
         "--dataset": NAME, "--device": NAME}
EVAL = {"--budget": [*COUNT, "15626", "100000000"], "--finalists": COUNT, "--seeds": [*COUNT, "1001"],
        "--first-seed": SEED, "--dataset": NAME, "--methods": ["", ",", "hwdiff,genetic"], "--space": NAME}
BENCH = {"--samples": [*COUNT, "100001"], "--seed": SEED, "--quantile": ["0", "100", "-5", *NOT_AN_INT],
         "--space": NAME, "--dataset": NAME, "--device": NAME}


@pytest.mark.parametrize("command, option, value", [
    *_cases(("search", "--latency", "10ms"), {k: v for k, v in SEARCH.items() if k != "--latency"}),
    *_cases(("search",), {"--latency": LATENCY}),
    *_cases(("train",), TRAIN),
    *_cases(("eval",), EVAL),
    *_cases(("bench-search",), BENCH),
    *_cases(("predict", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
            {"--space": NAME, "--dataset": NAME, "--device": NAME}),
])
def test_hostile_option_value_is_refused(assert_refused, command, option, value):
    assert_refused(*command, option, value, option=option)


@pytest.mark.parametrize("args, option", [
    (("search", "--guidance", "composed", "--weights", "1"), "--weights"),  # one weight for two conditions
    (("search", "--guidance", "composed", "--weights", "1,2,3"), "--weights"),
    (("eval", "--device", "", "--latency", "5ms"), "device"),
    (("eval", "--device", "pixel3", "--latency", "10kg"), "latency"),
    (("eval", "--seeds", "10", "--first-seed", "4294967290"), "--first-seed"),
    (("search", "--space", "effnet", "--labels", "20001"), "--labels"),
])
def test_hostile_combination_is_refused(assert_refused, args, option):
    assert_refused(*args, option=option)


@pytest.mark.parametrize("arch", NB201_ARCHS)
def test_hostile_nb201_architecture_is_refused(assert_refused, arch):
    assert_refused("predict", arch, option="arch")


@pytest.mark.parametrize("arch", EFFNET_ARCHS)
def test_hostile_effnet_architecture_is_refused(assert_refused, arch):
    assert_refused("predict", "--space", "effnet", arch, option="arch")


def test_hostile_paths_are_refused(assert_refused, tmp_path, read_only_dir):
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe\x00garbage")
    for path in (tmp_path, tmp_path / "missing.json", garbage):
        assert_refused("search", "--latency", "10ms", "--profile", str(path), option=str(path))
        assert_refused("predict", "--archs", str(path), option=str(path))
    assert_refused("predict", "--archs", "/dev/zero", option="/dev/zero")  # never read to the end
    (tmp_path / "folder.png").mkdir()
    for plot in (tmp_path, tmp_path / "folder.png", tmp_path / "missing-dir" / "p.png", read_only_dir / "p.png"):
        assert_refused("search", "--latency", "10ms", "--plot", str(plot), option="--plot")


def test_upper_case_architectures_are_accepted_and_printed_canonical(cli):
    nb201 = "|NOR_CONV_3X3~0|+|None~0|Skip_Connect~1|+|none~0|none~1|AVG_POOL_3X3~2|"
    result = cli("predict", nb201, "--json")
    assert result.code == 0, result.err
    assert '"|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"' in result.out
