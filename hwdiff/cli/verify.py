"""``hwdiff search --verify``'s parts of the command line: the option's optional value, the table, and the
hidden ``hwdiff measure-networks`` that ``--verify --remote`` runs on the board."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from hwdiff.cli.render import console, err_console, print_json
from hwdiff.errors import HwdiffError

if TYPE_CHECKING:
    from hwdiff.search.verify import Verification, VerifyRequest

# Options whose value may be left out, and what they mean alone (typer has no optional option values).
OPTIONAL_VALUES = {"search": {"--verify": "10"}}


def with_optional_values(argv: list[str], command: str | None) -> list[str]:
    """``argv`` with the default value put after an option of ``OPTIONAL_VALUES`` given alone (at the end, or
    before another option: a word starting with ``-`` that is not a negative number)."""
    options = OPTIONAL_VALUES.get(command or "", {})
    out: list[str] = []
    for i, word in enumerate(argv):
        out.append(word)
        if word in options:
            following = argv[i + 1] if i + 1 < len(argv) else None
            if following is None or (following.startswith("-") and not following.lstrip("-").isdigit()):
                out.append(options[word])
    return out


def verify_request(top: int | None, remote: str | None, identity: Path | None,
                   remote_python: str | None) -> VerifyRequest | None:
    """``--verify K`` and its ``--remote`` options as the library's request (None: no verification)."""
    if top is None:
        given = [name for name, value in (("--remote", remote), ("--identity", identity),
                                          ("--remote-python", remote_python)) if value is not None]
        if given:
            verb = "goes" if len(given) == 1 else "go"
            raise HwdiffError(f"{', '.join(given)} {verb} with --verify (measuring the top networks on the board); "
                              "add --verify or drop them")
        return None
    from hwdiff.search.verify import VerifyRequest

    if remote is None and (identity is not None or remote_python is not None):
        raise HwdiffError("--identity and --remote-python go with --remote ssh://user@host; add --remote or drop them")
    return VerifyRequest(top=top, remote=remote, identity=identity, remote_python=remote_python)


def measuring_progress(quiet: bool) -> Callable[[int, int, str], None]:
    """The library's progress callback for the networks measured on the device: one line per round on stderr.

    Lines, not a bar: the training bar is still on screen, and rich before 14 allows one live display only.
    """
    shown: set[str] = set()

    def update(done: int, total: int, label: str) -> None:
        stage = label.split("  ")[0]  # "round 2/3" of "round 2/3  network 1/10"
        if not quiet and done < total and stage not in shown:
            shown.add(stage)
            err_console.print(f"measuring on the device: {stage} ({done}/{total} measurements done)", markup=False)

    return update


def render_verification(v: Verification) -> None:
    """Measured beside predicted per network, those over the budget marked, and the measured feasible share."""
    run = v.run
    console.print(f"verified on {v.where}: {run.device} with {run.backend} {run.precision} batch {run.batch_size}, "
                  f"{run.threads} thread(s), median of {run.rounds} round(s){', SCHED_FIFO' if run.realtime else ''} "
                  f"(the setup of {v.setup_source})",
                  markup=False, soft_wrap=True)
    if not v.networks:
        console.print("nothing to verify: the search returned no architecture meeting the constraints", markup=False)
        return
    table = Table(title=f"Top {len(v.networks)} measured on the device", title_justify="left")
    for col, justify in (("#", "right"), ("arch", "left"), ("predicted", "right"), ("measured", "right"),
                         ("error", "right"), ("budget", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for i, n in enumerate(v.networks, 1):
        status = "-" if n.within_budget is None else ("ok" if n.within_budget else "OVER: dropped")
        table.add_row(str(i), n.arch, f"{n.predicted_ms:.4g} ms", f"{n.measured_ms:.4g} ms", f"{n.error_pct:+.1f} %",
                      status)
    console.print(table)
    doc = v.to_json()
    line = f"prediction error (MAPE) {doc['mape']:.1f} %"
    if v.feasible_share is not None:
        line = (f"{sum(bool(n.within_budget) for n in v.networks)} of {len(v.networks)} within {v.budget_ms:g} ms "
                f"when measured ({v.feasible_share:.0%}); {len(v.dropped)} dropped; " + line)
    console.print(line, markup=False)


def measure_networks(
    request: str = typer.Argument(..., help='{"run": NetworkRun as JSON, "archs": [...]}'),
) -> None:
    """Time whole networks as a profile's run says and print the figures as JSON (what `search --verify
    --remote` runs on the board; progress as JSON lines on stderr)."""
    from hwdiff.hardware.networks import NetworkRun
    from hwdiff.hardware.networks import measure_networks as measure
    from hwdiff.hardware.remote import format_progress

    try:
        doc = json.loads(request)
        run, archs = NetworkRun.from_json(doc["run"]), list(doc["archs"])
    except (ValueError, KeyError, TypeError) as exc:
        raise HwdiffError(f"measure-networks: not a request ({exc}); it is run by `hwdiff search --verify "
                          "--remote`, with the same hwdiff version on both ends") from None

    def progress(done: int, total: int, label: str) -> None:
        sys.stderr.write(format_progress(done, total, label) + "\n")
        sys.stderr.flush()

    print_json(measure(run, archs, progress))
