"""The commands that only list or explain start without torch and timm (each costs seconds to import), and,
once the profile index is built, without numpy and pydantic (tens of milliseconds each)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LIGHT_COMMANDS = [["--help"], ["devices"], ["profiles"], ["search", "--help"]]

PROBE = """
import json, sys
from hwdiff.cli import main
try:
    main({args!r})
    code = 0
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "heavy": [m for m in {modules!r} if m in sys.modules]}}), file=sys.stderr)
"""


def run_light(args, modules):
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args, modules=modules)], capture_output=True,
                          text=True, timeout=300)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert done.stdout.strip()  # it printed its help or its list
    return report["heavy"]


@pytest.mark.parametrize("args", LIGHT_COMMANDS, ids=" ".join)
def test_light_command_imports_neither_torch_nor_timm(args):
    heavy = run_light(args, ("torch", "timm"))
    assert heavy == [], f"hwdiff {' '.join(args)} imported {heavy}"


@pytest.mark.parametrize("args", LIGHT_COMMANDS, ids=" ".join)
def test_light_command_with_an_index_imports_neither_numpy_nor_pydantic(args):
    run_light(["profiles"], ())  # builds the profile index in this test's HWDIFF_HOME (the first listing reads all)
    heavy = run_light(args, ("numpy", "pydantic"))
    assert heavy == [], f"hwdiff {' '.join(args)} imported {heavy}"
