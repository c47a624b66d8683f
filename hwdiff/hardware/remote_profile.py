"""``hwdiff profile --remote ssh://user@host[:port]``: measure a lut (or few-shot) profile on the board, copy it back.

The board runs its own ``hwdiff profile`` with the same options (``hwdiff.hardware.remote``
checks it and runs it); the finished profile is copied back and stored here with
``provenance.remote``; the board's facts (CPU, GPU, Jetson, software) are in its provenance
already, read on the board.

The board keeps its partial run (``<profile>.json.partial``) when the connection drops or the run
dies: the run there saves it on the way out (a broken pipe included) and every 2 s. ``--resume``
continues it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwdiff.errors import HwdiffError
from hwdiff.hardware.profiles import Profile, claim_profile_path, partial_path, profile_path, read_profile
from hwdiff.hardware.profiling import plan_profile
from hwdiff.hardware.remote import BoardInfo, check_board, json_document, parse_progress, run_failure
from hwdiff.hardware.ssh import Remote
from hwdiff.storage import atomic_path, utc_timestamp

BUSY_WAIT_S = 30.0  # how long the check waits for an earlier run of the same profile to notice it lost us


# -- on the board -------------------------------------------------------------------------------------
def board_check(request: dict[str, Any]) -> dict[str, Any]:
    """Runs on the board (called by the check script): resolve the profiling plan; user errors come back as text."""
    try:
        return {"profile": _board_profile(request["profile"])}
    except HwdiffError as exc:
        return {"error": str(exc)}


def _board_profile(options: dict[str, Any]) -> dict[str, Any]:
    common = dict(space=options["space"], dataset=options["dataset"], backend=options["backend"],
                  precision=options["precision"], batch_size=options["batch_size"], threads=options["threads"],
                  rounds=options["rounds"], seed=options["seed"], force_device=options.get("force_device", False))
    if options.get("networks") is not None:  # a few-shot profile
        from hwdiff.hardware.fewshot_run import plan_few_shot

        plan: Any = plan_few_shot(options["device"], networks=options["networks"], holdout=options["holdout"],
                                  **common)
    else:
        plan = plan_profile(options["device"], validate=options["validate"], **common)
    target = profile_path(plan.filename)
    _wait_for_earlier_run(target)
    side = partial_path(target)
    return {"plan": plan.to_json(), "filename": plan.filename, "target": str(target), "partial": str(side),
            "exists": target.exists(), "partial_exists": side.exists()}


def _runs_writing(target: Path) -> list[int]:
    """Processes on this (Linux) machine running ``hwdiff profile ... --out TARGET``."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if "profile" in argv and any(a == "--out" and b == str(target) for a, b in zip(argv, argv[1:])):
            pids.append(int(proc.name))
    return [pid for pid in pids if pid != os.getpid()]


def _wait_for_earlier_run(target: Path) -> None:
    """After a dropped connection the earlier run lives on until its next progress line fails; let it save first."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while (pids := _runs_writing(target)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pids:
        raise HwdiffError(f"a run of this profile is still going on the board (pid {', '.join(map(str, pids))}); "
                          "wait for it to end, or stop it on the board with `kill PID`, then rerun")


# -- here ----------------------------------------------------------------------------------------------
@dataclass
class RemoteProfileResult:
    profile: Profile  # stored here (lut, or fewshot for --networks)
    summary: dict[str, Any]  # the board's `hwdiff profile --json` output ({} when a finished profile was copied)
    remote_file: str
    copied_only: bool  # the board had finished the run already (the connection dropped at its very end)


class RemoteProfileRun:
    """A profiling run on the board, checked and ready: ``prepare`` first, then ``run``."""

    def __init__(self, remote: Remote, board: BoardInfo, answer: dict[str, Any], local_target: Path,
                 resume: bool, force: bool, realtime: bool):
        self.remote, self.board = remote, board
        self.plan: dict[str, Any] = answer["plan"]
        self.remote_target: str = answer["target"]
        self.remote_partial: str = answer["partial"]
        self.finished_on_board = bool(answer["exists"] and not answer["partial_exists"] and resume and not force)
        self.local_target = local_target
        self.resume, self.force, self.realtime = resume, force, realtime

    @classmethod
    def prepare(cls, remote: Remote, options: dict[str, Any], *, out: Path | None = None, force: bool = False,
                resume: bool = False, realtime: bool = False) -> RemoteProfileRun:
        """Check the board, resolve the plan there, and check both ends' files before any measuring.

        ``options``: device, space, dataset, backend, precision, batch_size, threads, validate, rounds,
        seed, force_device, and for a few-shot profile networks and holdout (``None`` = the board's
        device spec decides, as for a local run). The device guard runs on the board, on its facts.
        """
        board, doc = check_board(remote, {"profile": options})
        answer = doc["profile"]
        target = profile_path(answer["filename"], out)
        claim_profile_path(target, force)
        if answer["exists"] and not answer["partial_exists"] and not (force or resume):
            raise HwdiffError(f"{remote.target.destination} already has this profile ({answer['target']}); pass "
                              "--force to measure it again, or --resume to copy the finished one as it is")
        return cls(remote, board, answer, target, resume, force, realtime)

    def command(self) -> str:
        p = self.plan
        args = ["-m", "hwdiff", "profile", "--device", p["device"], "--space", p["space"], "--dataset", p["dataset"],
                "--backend", p["backend"], "--precision", p["precision"], "--batch", str(p["batch_size"]),
                "--threads", str(p["threads"]), *self._kind_args(), "--rounds", str(p["rounds"]),
                "--seed", str(p["seed"]), "--out", self.remote_target, "--progress-lines", "--json"]
        args += [flag for flag, on in (("--resume", self.resume), ("--force", self.force),
                                       ("--realtime", self.realtime),
                                       ("--force-device", bool(p.get("device_override")))) if on]
        return self.remote.python_command(*args)

    @property
    def kind(self) -> str:
        """The profile kind the run measures: its plan has ``networks`` for a few-shot profile."""
        return "fewshot" if "networks" in self.plan else "lut"

    def _kind_args(self) -> list[str]:
        p = self.plan
        if self.kind == "fewshot":
            return ["--networks", str(p["networks"]), "--holdout", str(p["holdout"])]
        return ["--validate", str(p["validate"])]

    def run(self, progress: Callable[[int, int, str], None] | None = None,
            on_line: Callable[[str], None] | None = None) -> RemoteProfileResult:
        """Measure on the board (progress as it comes, other board lines to ``on_line``), copy back, store."""
        if self.finished_on_board:
            return self._store({}, copied_only=True)

        def line(text: str) -> None:
            parsed = parse_progress(text)
            if parsed is not None:
                if progress:
                    progress(*parsed)
            elif on_line and not text.startswith("error: "):
                on_line(text)

        code, stdout, lines = self.remote.stream(self.command(), line)
        if code != 0:
            keep = (f"the board keeps the finished measurements in {self.remote_partial}: run the same command with "
                    "--resume to continue")
            raise run_failure(self.remote, code, lines, "the profiling run", keep)
        return self._store(json_document(stdout, "the profiling run on the board"), copied_only=False)

    def _store(self, summary: dict[str, Any], copied_only: bool) -> RemoteProfileResult:
        """Copy the board's profile here atomically, with where it came from; nothing is written if it is unusable."""
        remote_file = summary.get("file", self.remote_target)
        data = self.remote.read_file(remote_file)
        try:
            doc = json.loads(data)
            provenance = doc["provenance"]
        except (ValueError, KeyError, TypeError):
            raise HwdiffError(f"{self.remote.target.destination}:{remote_file} is not an hwdiff profile; measure again "
                              "with --force") from None
        if copied_only and json.loads(json.dumps(provenance.get("plan"))) != self.plan:
            raise HwdiffError(f"{self.remote.target.destination} already has a finished profile "
                              f"{remote_file} measured with other options; pass --force to measure it again")
        provenance["source"] = f"{provenance.get('source', 'measured by hwdiff profile')} on {self.board.host}"
        provenance["remote"] = {"url": self.remote.target.url, **self.board.to_json(), "file": remote_file,
                                "copied": utc_timestamp()}
        copied = f"the profile copied from {self.remote.target.destination}:{remote_file}"
        with atomic_path(self.local_target) as tmp:
            tmp.write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n", encoding="utf-8")
            try:
                profile = read_profile(tmp)
            except HwdiffError as exc:
                raise HwdiffError(f"{copied} is unusable ({exc})") from None
            if profile.kind != self.kind:
                raise HwdiffError(f"{copied} is a {profile.kind} profile, not the {self.kind} profile a run measures")
        profile.path = self.local_target
        return RemoteProfileResult(profile, summary, remote_file, copied_only)
