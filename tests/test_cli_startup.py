"""The commands that only list or explain start without torch and timm (each costs seconds to import)."""

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
print(json.dumps({{"code": code, "heavy": [m for m in ("torch", "timm") if m in sys.modules]}}), file=sys.stderr)
"""


@pytest.mark.parametrize("args", LIGHT_COMMANDS, ids=" ".join)
def test_light_command_imports_neither_torch_nor_timm(args):
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                          timeout=300)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert report["heavy"] == [], f"hwdiff {' '.join(args)} imported {report['heavy']}"
    assert done.stdout.strip()  # it printed its help or its list
