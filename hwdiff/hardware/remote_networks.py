"""Whole networks timed on the board over SSH (``hwdiff search --verify --remote ssh://...``).

Two steps, as ``profile --remote`` (``hwdiff.hardware.remote``):

1. **check** (``RemoteNetworks.prepare``, before the search trains anything) -- the board's Python
   and hwdiff, then ``board_check`` there: the board resolves the run from its own device spec
   (the device guard runs on the board's facts) and says which machine it is;
2. **run** (``RemoteNetworks.measure``) -- the board's hidden ``hwdiff measure-networks REQUEST``
   with the resolved run and the architectures, progress back as ``hwdiff-progress`` lines, the
   figures as JSON on stdout. Nothing is written on either side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hwdiff.errors import HwdiffError
from hwdiff.hardware.networks import NetworkRun, plan_network_run, this_machine
from hwdiff.hardware.remote import BoardInfo, check_board, json_document, parse_progress, run_failure
from hwdiff.hardware.ssh import Remote


# -- on the board -------------------------------------------------------------------------------------
def board_check(request: dict[str, Any]) -> dict[str, Any]:
    """Runs on the board (called by the check script): the run its spec resolves, and what the board is."""
    try:
        run = plan_network_run(**request["networks"])
    except HwdiffError as exc:
        return {"error": str(exc)}
    return {"networks": {"run": run.to_json(), "machine": this_machine()}}


# -- here ----------------------------------------------------------------------------------------------
@dataclass
class RemoteNetworks:
    """A board checked and a network run resolved there, ready to ``measure``."""

    remote: Remote
    board: BoardInfo
    run: NetworkRun
    machine: list[Any]  # the board's CPU model and GPU names (``facts.machine_identity``)

    @classmethod
    def prepare(cls, remote: Remote, device: str, options: dict[str, Any]) -> RemoteNetworks:
        """Check the board and resolve the run there; ``options`` as ``plan_network_run`` takes them."""
        board, doc = check_board(remote, {"networks": {"device": device, **options}})
        answer = doc["networks"]
        return cls(remote, board, NetworkRun.from_json(answer["run"]), answer["machine"])

    def measure(self, archs: list[str], progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
        """Time ``archs`` on the board; ``networks.measure_networks``' result, as the board returned it."""
        request = json.dumps({"run": self.run.to_json(), "archs": archs})
        command = self.remote.python_command("-m", "hwdiff", "measure-networks", request)

        def line(text: str) -> None:
            parsed = parse_progress(text)
            if parsed is not None and progress:
                progress(*parsed)

        code, stdout, lines = self.remote.stream(command, line)
        if code != 0:
            raise run_failure(self.remote, code, lines, "the measurement", "run the same command again")
        doc = json_document(stdout, "the measurement on the board")
        if not isinstance(doc.get("networks"), list) or len(doc["networks"]) != len(archs):
            raise HwdiffError(f"the measurement on {self.remote.target.destination} returned no figures for the "
                              f"{len(archs)} networks; run it again")
        return doc
