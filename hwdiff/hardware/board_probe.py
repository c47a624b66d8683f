"""The check that ``hwdiff ... --remote`` runs first on the board, sent as source to the board's Python.

    python3 - '{"hwdiff": "0.1.0", "min_python": [3, 10], "profile": {...}}'  < board_probe.py

It prints one line ``hwdiff-check {json}``: the board's Python and hwdiff versions, and, when both
fit, what the request prepared there. Old syntax on purpose: it must report the version of any
Python (an old one included). It reads hwdiff's version without importing hwdiff (which imports
torch: seconds on a small board), the way the build reads it; only a profile check imports it.
"""

import json
import platform
import re
import sys
import tempfile

MARKER = "hwdiff-check "


def probe(request):
    out = {"python": platform.python_version(), "executable": sys.executable, "host": platform.node(),
           "hwdiff": None}
    if sys.version_info >= tuple(request["min_python"]):
        import importlib.util

        spec = importlib.util.find_spec("hwdiff")
        if spec is None or not spec.origin:
            out["import_error"] = "ModuleNotFoundError: No module named 'hwdiff'"
        else:
            with open(spec.origin) as source:
                found = re.search(r"^__version__ = [\"']([^\"']+)[\"']", source.read(), re.M)
            out["hwdiff"] = found.group(1) if found else "unknown"
    if out["hwdiff"] == request["hwdiff"]:
        if "profile" in request:
            from hwdiff.hardware.remote_profile import board_check

            out.update(board_check(request))
        if "networks" in request:
            from hwdiff.hardware.remote_networks import board_check as networks_check

            out.update(networks_check(request))
        if "engine" in request:
            from hwdiff.hardware.trt_engine import board_builder

            out.update(board_builder())
        if "bench" in request and not out.get("error"):
            out["bench"] = {"folder": tempfile.mkdtemp(prefix="hwdiff-bench-")}
    return out


if __name__ == "__main__":
    sys.stdout.write("\n" + MARKER + json.dumps(probe(json.loads(sys.argv[1]))) + "\n")
