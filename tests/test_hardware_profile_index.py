"""The profile index lists what reading every file would, and reads a file again once it changed."""

from __future__ import annotations

import json

import pytest

from hwdiff.hardware import profile_index
from hwdiff.hardware.profile_index import ProfileIndex
from hwdiff.hardware.profiles import TableProfile, load_catalog, profile_dirs, read_profile
from hwdiff.storage import shipped_dir

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


class CountingReader:
    def __init__(self):
        self.paths = []

    def __call__(self, path):
        self.paths.append(path.name)
        return read_profile(path)


@pytest.fixture
def no_settling(monkeypatch):
    """Files count as settled at once (else only files older than ``SETTLE_SECONDS`` are cached)."""
    monkeypatch.setattr(profile_index, "SETTLE_SECONDS", 0.0)


def user_table(hwdiff_home, name="board-nb201-table.json", ms=1.5):
    profile = TableProfile.from_archs(device="board", space="nb201", dataset="cifar10", latencies={ARCH: ms},
                                      provenance={"source": "test", "imported": "2026-01-02T03:04:05+00:00"})
    return profile.save(hwdiff_home / "profiles" / name)


def test_index_lists_what_reading_every_file_gives(hwdiff_home):
    user_table(hwdiff_home)
    cold = load_catalog()
    assert (hwdiff_home / "cache" / "profile-index.json").exists()
    warm = load_catalog()
    assert warm == cold and len(cold.profiles) == 31 and cold.problems == []
    board = next(p for p in warm.profiles if p.device == "board")
    assert (board.kind, board.entries, board.summary, board.created.year) == ("table", 1, "test", 2026)
    for entry in warm.profiles:  # each entry says what the file's profile says
        profile = read_profile(entry.path)
        assert (entry.device, entry.space, entry.kind, entry.validation, entry.trusted, entry.created) == (
            profile.device, profile.space, profile.kind, profile.validation, profile.trusted, profile.created)


def test_settled_files_are_read_once(hwdiff_home, no_settling):
    path = user_table(hwdiff_home)
    first, second = CountingReader(), CountingReader()
    index = ProfileIndex.open()
    index.scan(path.parent, first)
    index.save()
    entries, problems = ProfileIndex.open().scan(path.parent, second)
    assert first.paths == [path.name] and second.paths == []
    assert [e.device for e in entries] == ["board"] and problems == []


def test_fresh_files_are_read_every_time(hwdiff_home, monkeypatch):
    monkeypatch.setattr(profile_index, "SETTLE_SECONDS", 3600.0)  # written within the hour: fresh
    path = user_table(hwdiff_home)
    index = ProfileIndex.open()
    index.scan(path.parent, read_profile)
    index.save()
    reader = CountingReader()
    ProfileIndex.open().scan(path.parent, reader)
    assert reader.paths == [path.name]


def test_a_file_that_turns_corrupt_is_reported_by_name(cli, hwdiff_home, no_settling):
    path = user_table(hwdiff_home)
    assert cli("profiles").code == 0  # indexed as usable
    doc = json.loads(path.read_text())
    doc["table"]["latency_ms"] = [-1.0]
    path.write_text(json.dumps(doc))
    for _ in range(2):  # read again, then reported from the index
        result = cli("profiles", "--json")
        assert result.code == 0
        assert f"profile {path}: corrupt table profile (latencies must be positive finite numbers)" in result.err
        assert "board" not in {p["device"] for p in json.loads(result.out)}


def test_a_broken_index_is_rebuilt(hwdiff_home):
    index_file = hwdiff_home / "cache" / "profile-index.json"
    index_file.parent.mkdir(parents=True)
    index_file.write_text('{"format": 1, "hwdiff": "0.1.0", "folders": {"x": [')
    catalog = load_catalog()
    assert len(catalog.profiles) == 30 and catalog.problems == []
    assert str(shipped_dir("profiles")) in json.loads(index_file.read_text())["folders"]


def test_read_only_store_lists_without_an_index(monkeypatch, read_only_dir):
    monkeypatch.setenv("HWDIFF_HOME", str(read_only_dir / "hwdiff-home"))
    catalog = load_catalog()
    assert len(catalog.profiles) == 30 and catalog.problems == []
    assert not (profile_dirs()[0].parent / "cache").exists()


def test_find_reads_the_chosen_file(hwdiff_home, no_settling):
    user_table(hwdiff_home, ms=2.5)
    load_catalog()
    profile = load_catalog().find("board", "nb201")
    assert isinstance(profile, TableProfile) and profile.predict([ARCH])[0] == 2.5
