"""The maintainer tools (tools/) run as documented: ``python -m tools.NAME`` from the repository root."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tools.bench_threads import parse_variant

OPTION_TOOLS = ["train_effnet_predictor", "fit_effnet_latency_models", "bench_deploy", "bench_threads",
                "bench_startup", "bench_fewshot_cpu", "bench_fewshot", "bench_fewshot_search", "fit_latency_transfer",
                "train_shared_generator"]
CONVERTERS = ["convert_nb201_accuracies", "convert_help_latencies", "convert_effnet_records"]
REPO = Path(__file__).resolve().parents[1]


def test_every_tool_is_documented():
    names = sorted(p.stem for p in (REPO / "tools").glob("*.py") if p.stem != "__init__")
    assert names == sorted(OPTION_TOOLS + CONVERTERS)
    data_md = (REPO / "docs" / "data.md").read_text()
    assert all(f"python -m tools.{name}" in data_md for name in names)


@pytest.mark.parametrize("name", OPTION_TOOLS)
def test_tool_help_names_its_command(name, capsys):
    tool = importlib.import_module(f"tools.{name}")
    with pytest.raises(SystemExit) as exited:
        tool.main(["--help"])
    assert exited.value.code == 0
    assert f"usage: python -m tools.{name}" in capsys.readouterr().out


@pytest.mark.parametrize("name", CONVERTERS)
def test_converter_without_its_folder_prints_usage(name):
    tool = importlib.import_module(f"tools.{name}")
    with pytest.raises(SystemExit, match=f"^usage: python -m tools.{name} SHARED_DATA_DIR$"):
        tool.main([])


def test_bench_variants_parse():
    assert parse_variant("spin:GOMP_SPINCOUNT=300000,OMP_NUM_THREADS=2") == (
        "spin", {"GOMP_SPINCOUNT": "300000", "OMP_NUM_THREADS": "2"})
    assert parse_variant("plain:") == ("plain", {})
