"""Few-shot profiles: the fit and its stated error, the file, ``--from-table`` with few rows, and the commands that
use a few-shot profile (profiles, predict, eval, search). Measurements are rows of the shipped pixel3 table."""

import json

import numpy as np
import pytest

from hwdiff.errors import HwdiffError
from hwdiff.hardware import FewShotProfile, find_profile, read_profile
from hwdiff.metrics import spearman
from hwdiff.spaces import get_space

SPACE = get_space("nb201")
ALL = SPACE.enumerate()
PIXEL3 = find_profile("pixel3", "nb201")


def pixel3_rows(n: int, seed: int = 0) -> tuple[list[str], list[float]]:
    archs = [ALL[i] for i in np.random.default_rng(seed).choice(len(ALL), n, replace=False)]
    return archs, PIXEL3.predict(archs).tolist()


def fit(n: int = 20, **kw) -> FewShotProfile:
    archs, ms = pixel3_rows(n)
    return FewShotProfile.fit(device="new-phone", space="nb201", dataset="cifar10", archs=archs, latency_ms=ms,
                              provenance={"source": "test"}, **kw)


def write_csv(path, archs, ms, header="arch,latency_ms"):
    path.write_text(header + "\n" + "".join(f"{a},{v:.6g}\n" for a, v in zip(archs, ms)))
    return path


def test_fit_states_a_leave_one_out_error_and_predicts_every_arch():
    profile = fit()
    v = profile.validation
    assert v["method"] == "leave-one-out over the 20 measured networks" and v["n"] == 20
    assert 0 < v["mape"] < 50 and 0 <= v["within_10pct"] <= 1 and v["kendall_tau"] > 0.5
    predicted = profile.predict(ALL)
    assert predicted.shape == (len(ALL),) and (np.isfinite(predicted) & (predicted > 0)).all()
    assert spearman(PIXEL3.predict(ALL), predicted) > 0.8  # 20 networks rank the whole space


def test_held_out_networks_state_the_error_when_measured():
    extra, extra_ms = pixel3_rows(5, seed=1)
    profile = fit(holdout=(extra, extra_ms))
    assert profile.validation["method"] == "5 held-out networks measured beside the 20 fitted"
    assert profile.validation["n"] == 5


def test_json_round_trip(tmp_path):
    profile = fit(holdout=pixel3_rows(5, seed=1))
    path = profile.save(tmp_path / "new-phone-nb201-fewshot.json")
    again = read_profile(path)
    assert isinstance(again, FewShotProfile) and again.kind == "fewshot"
    assert again.validation == json.loads(json.dumps(profile.validation))
    assert again.archs == profile.archs and again.holdout[0] == profile.holdout[0]
    sample = ALL[::97]
    assert np.array_equal(again.predict(sample), profile.predict(sample))
    assert again.dumps() == profile.dumps()


@pytest.mark.parametrize("archs, ms, message", [
    (ALL[:4], [1.0] * 4, "4 measured network(s); a few-shot profile needs at least 5"),
    ([ALL[0]] * 2 + ALL[1:4], [1.0] * 5, "listed twice"),
    (ALL[:5], [1.0, 2.0, 0.0, 3.0, 4.0], "positive, finite"),
    (ALL[:5], [1.0, 2.0, float("nan"), 3.0, 4.0], "positive, finite"),
])
def test_fit_refuses_what_cannot_describe_a_device(archs, ms, message):
    with pytest.raises(HwdiffError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FewShotProfile.fit(device="d", space="nb201", dataset="", archs=archs, latency_ms=ms, provenance={})


def test_corrupt_fewshot_file_is_named_and_others_still_work(cli, hwdiff_home):
    folder = hwdiff_home / "profiles"
    doc = fit().to_json()
    doc["fewshot"]["measured"]["latency_ms"] = doc["fewshot"]["measured"]["latency_ms"][:-1]
    folder.mkdir(parents=True)
    (folder / "new-phone-nb201-fewshot.json").write_text(json.dumps(doc))
    result = cli("profiles", "--json")
    assert result.code == 0
    assert "new-phone-nb201-fewshot.json: corrupt fewshot profile" in result.err
    assert len([p for p in json.loads(result.out) if p["space"] == "nb201"]) == 24
    shown = cli("profiles", "show", str(folder / "new-phone-nb201-fewshot.json"))
    assert shown.code == 2 and "corrupt fewshot profile" in shown.err


# -- hwdiff profile --from-table with few rows, and the commands on the result ---------------------
@pytest.fixture
def imported(cli, tmp_path, hwdiff_home):
    """20 rows of the pixel3 table imported as a new device."""
    archs, ms = pixel3_rows(20)
    result = cli("profile", "--device", "new-phone", "--from-table", str(write_csv(tmp_path / "m.csv", archs, ms)),
                 "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_few_rows_become_a_fewshot_profile(imported, hwdiff_home):
    assert imported["kind"] == "fewshot" and imported["measured"] == 20 and imported["entries"] == 20
    assert imported["validation"]["method"].startswith("leave-one-out")
    assert len(imported["nearest_devices"]) == 3 and all(0 < d["similarity"] <= 1 for d in imported["nearest_devices"])
    assert sorted(p.name for p in (hwdiff_home / "profiles").iterdir()) == ["new-phone-nb201-fewshot.json"]
    profile = find_profile("new-phone", "nb201")
    assert profile.kind == "fewshot" and profile.provenance["source"] == "imported from m.csv"


def test_import_prints_measured_count_error_and_nearest_devices(cli, tmp_path):
    archs, ms = pixel3_rows(8)
    result = cli("profile", "--device", "new-phone", "--from-table", str(write_csv(tmp_path / "m.csv", archs, ms)))
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "few-shot profile" in text and "8 measured networks" in text and "leave-one-out" in text
    assert "nearest shipped devices" in text and "MAPE" in text


def test_profiles_list_and_show_a_fewshot_profile(cli, imported, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds cells to the terminal's width
    listing = [p for p in json.loads(cli("profiles", "--json").out) if p["device"] == "new-phone"]
    assert len(listing) == 1 and listing[0]["kind"] == "fewshot" and listing[0]["validation"]["n"] == 20
    table = cli("profiles", "--device", "new-phone")
    assert table.code == 0 and "20 measured" in table.out and "leave-one-out" in table.out
    doc = json.loads(cli("profiles", "show", "new-phone-nb201-fewshot", "--json").out)
    assert doc["measured"] == 20 and doc["held_out"] == 0 and len(doc["networks"]) == 20
    assert doc["nearest_devices"] == imported["nearest_devices"]
    row = doc["networks"][0]
    assert row["role"] == "fitted" and row["measured_ms"] == pytest.approx(pixel3_rows(20)[1][0], rel=1e-5)
    shown = cli("profiles", "show", "new-phone-nb201-fewshot")
    assert shown.code == 0
    text = " ".join(shown.out.split())
    assert "20 networks fitted" in text and "nearest shipped devices" in text and "Measured networks" in text


def test_predict_uses_the_fewshot_profile(cli, imported):
    arch = ALL[1234]
    doc = json.loads(cli("predict", arch, "--device", "new-phone", "--json").out)[0]
    assert doc["latency_source"] == "fewshot:new-phone-nb201-fewshot.json"
    assert doc["latency_ms"] == pytest.approx(float(find_profile("new-phone", "nb201").predict([arch])[0]))


def test_eval_bounds_the_search_with_the_fewshot_profile(cli, imported):
    result = cli("eval", "--device", "new-phone", "--latency", "10ms", "--methods", "random,evolution", "--budget",
                 "12", "--finalists", "2", "--seeds", "1", "--json")
    assert result.code == 0, result.err
    latency = find_profile("new-phone", "nb201").predict
    for run in json.loads(result.out)["runs"]:
        assert run["finalists"] and (latency(run["finalists"]) <= 10.0).all()


@pytest.mark.slow  # trains a generator (briefly)
def test_search_on_a_fewshot_profile(cli, imported, one_thread):
    result = cli("search", "--device", "new-phone", "--latency", "15ms", "--samples", "50", "--steps", "5",
                 "--train-steps", "50", "--top", "3", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["device"] == "new-phone" and doc["candidates"]
    latency = find_profile("new-phone", "nb201").predict
    margin = doc["margin"]  # the fit's own spread: the search aims below the budget (search/margin.py)
    assert margin["budget_ms"] == 15.0 and margin["bound_ms"] < 15.0 and margin["confidence"] == pytest.approx(0.9)
    for c in doc["candidates"]:
        assert c["latency_source"] == "fewshot:new-phone-nb201-fewshot.json" and c["latency_ms"] <= margin["bound_ms"]
        assert c["latency_ms"] == pytest.approx(float(latency([c["arch"]])[0]))


@pytest.mark.parametrize("device", ["fpga", "titan_rtx_1", "gold_6226"])
def test_stated_spread_matches_the_error_over_the_whole_table(device):
    """The spread a search's margin uses, from 20 networks, against the error over all 15,625 cells."""
    truth = find_profile(device, "nb201").predict(ALL)
    pick = np.random.default_rng(0).choice(len(ALL), 20, replace=False)
    profile = FewShotProfile.fit(device="board", space="nb201", dataset="cifar10", archs=[ALL[i] for i in pick],
                                 latency_ms=truth[pick], provenance={"source": "test"})
    actual = float(np.std(np.log(truth / profile.predict(ALL))))
    assert 0.5 * actual < profile.log_error_sd < 2 * actual


def test_a_repeated_identical_row_counts_once(cli, tmp_path):
    archs, ms = pixel3_rows(6)
    csv = write_csv(tmp_path / "m.csv", archs + archs[:1], ms + ms[:1])
    doc = json.loads(cli("profile", "--device", "new-phone", "--from-table", str(csv), "--json").out)
    assert doc["kind"] == "fewshot" and doc["measured"] == 6


def test_five_rows_are_enough(cli, tmp_path):
    archs, ms = pixel3_rows(5)
    result = cli("profile", "--device", "new-phone", "--from-table", str(write_csv(tmp_path / "m.csv", archs, ms)))
    assert result.code == 0, result.err


def test_effnet_rows_fit_a_fewshot_profile(cli, tmp_path):
    effnet = get_space("effnet")
    archs = effnet.random_archs(12, np.random.default_rng(0))
    ms = find_profile("a100", "effnet").predict(archs)
    csv = write_csv(tmp_path / "e.csv", archs, ms)
    doc = json.loads(cli("profile", "--device", "my-gpu", "--space", "effnet", "--from-table", str(csv), "--json").out)
    assert doc["kind"] == "fewshot" and doc["measured"] == 12 and doc["file"].endswith("my-gpu-effnet-fewshot.json")


def _bad_rows():
    archs, ms = pixel3_rows(20)
    effnet_arch = get_space("effnet").random_archs(1, np.random.default_rng(0))[0]
    return {
        "four rows": (archs[:4], ms[:4], "4 arch(s); a few-shot profile needs at least 5"),
        "seconds": (archs, [v / 1000 for v in ms], "latency_ms looks like seconds"),
        "duplicate, other latency": (archs[:5] + archs[:1], ms[:5] + [ms[0] * 2], "line 7: duplicate arch"),
        "negative": (archs[:5], ms[:4] + [-1.0], "line 6: latency_ms -1 is not allowed"),
        "another space's arch": (archs[:4] + [effnet_arch], ms[:5], "line 6: "),
    }


BAD = _bad_rows()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_few_row_tables_are_one_line_and_write_nothing(cli, tmp_path, hwdiff_home, case):
    archs, ms, message = BAD[case]
    result = cli("profile", "--device", "new-phone", "--from-table", str(write_csv(tmp_path / "bad.csv", archs, ms)))
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert not (hwdiff_home / "profiles").exists() or not list((hwdiff_home / "profiles").iterdir())
    if case == "another space's arch":
        assert "pass --space effnet" in result.err
