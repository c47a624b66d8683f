"""``hwdiff profiles`` (list, show) and ``hwdiff profile`` (import; measure)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from hwdiff import __version__
from hwdiff.cli.interrupt import Interrupted
from hwdiff.cli.remote_options import IDENTITY, REMOTE_PYTHON
from hwdiff.cli.render import console, err_console, fmt_ms, print_json, warn
from hwdiff.errors import HwdiffError, check_seed

if TYPE_CHECKING:  # the library is imported inside the commands: `hwdiff profiles` needs no torch
    from hwdiff.hardware.fewshot import FewShotProfile
    from hwdiff.hardware.lut import LutProfile
    from hwdiff.hardware.profile_index import ProfileEntry
    from hwdiff.hardware.profiles import Profile
    from hwdiff.hardware.ssh import Remote

profiles_app = typer.Typer(help="List and inspect device profiles.", no_args_is_help=False)


def _entries(profile: ProfileEntry) -> str:
    if profile.entries is None:
        return "-"
    return f"{profile.entries} measured" if profile.kind == "fewshot" else str(profile.entries)


def _validation(profile: ProfileEntry) -> str:
    v = profile.validation
    if not v:
        return "-"
    tau = v.get("kendall_tau")
    how = ""
    if profile.kind == "fewshot":
        how = " (leave-one-out)" if v.get("scheme") == "leave-one-out" else f" ({v.get('n')} held out)"
    return (f"MAPE {v.get('mape', float('nan')):.1f}%, ±10% {v.get('within_10pct', float('nan')):.0%}"
            + (f", tau {tau:.2f}" if isinstance(tau, float) else "") + how)


@profiles_app.callback(invoke_without_command=True)
def list_profiles(
    ctx: typer.Context,
    space: str = typer.Option(None, help="Only profiles of this space."),
    device: str = typer.Option(None, help="Only profiles of this device."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List device profiles (the user's first, then the shipped ones)."""
    if ctx.invoked_subcommand:
        return
    from hwdiff.hardware.devices import check_device_name
    from hwdiff.hardware.profiles import load_catalog, profile_dirs

    if space is not None:  # "" is a name (refused), not "every space"
        from hwdiff.spaces import get_space

        get_space(space)
    if device is not None:
        check_device_name(device)
    catalog = load_catalog()
    for line in catalog.problems:
        warn(line)
    rows = [p for p in catalog.profiles if space in (None, p.space) and device in (None, p.device)]
    if json_out:
        print_json([{"file": str(p.path), "device": p.device, "space": p.space, "kind": p.kind,
                     "dataset": p.dataset, "entries": p.entries,
                     "source": p.summary, "validation": p.validation,
                     "latency_kind": p.latency_kind.to_json()} for p in rows])
        return
    table = Table(title="Profiles", title_justify="left")
    for col in ("device", "space", "kind", "archs", "ms are", "source", "validation", "file"):
        table.add_column(col, overflow="fold")
    for p in rows:
        table.add_row(p.device, p.space, p.kind, _entries(p), p.latency_kind.short, p.summary, _validation(p), p.name)
    console.print(table)
    console.print(f"{len(rows)} profiles from {', '.join(str(d) for d in profile_dirs())}", markup=False)


@profiles_app.command("show")
def show_profile(
    name: str = typer.Argument(..., help="A profile file, or its name as `hwdiff profiles` lists it."),
    json_out: bool = typer.Option(False, "--json", help="Print the profile's metadata as JSON."),
) -> None:
    """Print one profile: device, space, provenance and validation."""
    from hwdiff.hardware.fewshot import FewShotProfile
    from hwdiff.hardware.lut import LutProfile
    from hwdiff.hardware.profiles import locate_profile, read_profile

    profile = read_profile(locate_profile(name))
    doc = profile.to_json()
    doc.pop(profile.kind, None)
    doc["entries"] = len(profile) if hasattr(profile, "__len__") else None
    doc["file"] = str(profile.path)
    doc["latency_kind"] = profile.latency_kind.to_json()
    if isinstance(profile, LutProfile):
        doc["calibration"] = profile.calibration
        doc["layers"] = [{k: layer[k] for k in ("key", "description", "ms", "method")} for layer in profile.layers]
    if isinstance(profile, FewShotProfile):
        doc.update(_fewshot_facts(profile), networks=_fewshot_networks(profile))
    if json_out:
        print_json(doc)
        return
    table = Table(title=f"Profile {profile.name}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key in ("device", "space", "dataset", "kind", "unit", "entries", "file"):
        table.add_row(key, "-" if doc.get(key) is None else str(doc[key]))
    table.add_row("latency kind", profile.latency_kind.label)
    if isinstance(profile, FewShotProfile):
        table.add_row("measured", f"{doc['measured']} networks fitted" +
                      (f", {doc['held_out']} held out" if doc["held_out"] else ""))
        table.add_row("nearest shipped devices", _nearest(doc["nearest_devices"]))
    for key, value in (profile.provenance or {}).items():
        if key not in ("facts_before", "facts_after", "plan"):  # long; in --json and the file
            table.add_row(f"provenance.{key}", escape(str(value)))
    if profile.validation:
        for key, value in profile.validation.items():
            table.add_row(f"validation.{key}", f"{value:.4g}" if isinstance(value, float) else escape(str(value)))
    elif profile.kind == "table":
        table.add_row("validation", "none (a measured table is its own ground truth)")
    else:
        table.add_row("validation", "none: not validated against whole networks")
    console.print(table)
    if isinstance(profile, LutProfile):
        c = profile.calibration
        layers = Table(title=f"Layers (predicted = {c['scale']:.4g} x sum + {c['offset_ms']:.4g} ms)",
                       title_justify="left")
        for col in ("layer", "what", "ms", "how"):
            layers.add_column(col, justify="right" if col == "ms" else "left")
        for layer in profile.layers:
            layers.add_row(layer["key"], layer.get("description", ""), f"{layer['ms']:.4f}", layer.get("method", ""))
        console.print(layers)
    if isinstance(profile, FewShotProfile):
        networks = Table(title="Measured networks", title_justify="left")
        for col in ("arch", "role", "measured", "predicted"):
            networks.add_column(col, justify="left" if col in ("arch", "role") else "right")
        for row in doc["networks"]:
            networks.add_row(row["arch"], row["role"], fmt_ms(row["measured_ms"]), fmt_ms(row["predicted_ms"]))
        console.print(networks)


def profile(
    device: str = typer.Option(..., help="Device name or alias (`hwdiff devices`); any new name when importing."),
    space: str = typer.Option("nb201", help="Search space."),
    from_table: Path = typer.Option(None, "--from-table", help="Import a CSV with columns arch,latency_ms instead "
                                    "of measuring: the whole space is a table profile, 5 or more rows a few-shot "
                                    "profile."),
    dataset: str = typer.Option(None, help="Dataset whose input size is measured (default: the space's first, "
                                "cifar10 for nb201); recorded when importing."),
    backend: str = typer.Option(None, help="pytorch, pytorch-compile, onnxruntime, onnxruntime-trt, tensorrt "
                                "(default: the device spec's)."),
    precision: str = typer.Option(None, help="fp32 or fp16 (default: the device spec's)."),
    batch: int = typer.Option(None, "--batch", help="Batch size (default: the device spec's)."),
    threads: int = typer.Option(None, help="CPU threads, fixed for the run; 0 = one per physical core (default: "
                                "the device spec's)."),
    validate: int = typer.Option(None, help="Random whole networks to measure: half calibrate the table, half "
                                 "check it. 0 skips validation. Default 100."),
    networks: int = typer.Option(None, "--networks", help="Measure a few-shot profile instead of a lookup table: "
                                 "N whole networks of a fixed design (docs/profiling.md), e.g. 20."),
    holdout: int = typer.Option(None, "--holdout", help="With --networks: extra random networks measured only to "
                                "state the profile's error (default 10; 0 = leave-one-out)."),
    plan_csv: Path = typer.Option(None, "--plan", help="With --networks: write the design's archs to this CSV "
                                  "(arch,latency_ms, latencies empty) to time with your own tools and import with "
                                  "--from-table; nothing is measured."),
    rounds: int = typer.Option(3, help="Passes over all layers and networks; each figure is the median over them."),
    seed: int = typer.Option(0, help="Seed of the validation networks (of the few-shot design with --networks)."),
    realtime: bool = typer.Option(False, "--realtime", help="Time under SCHED_FIFO (root or CAP_SYS_NICE) so other "
                                  "processes cannot preempt the measurement."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its side file."),
    out: Path = typer.Option(None, help="Write the profile here instead of $HWDIFF_HOME/profiles."),
    force: bool = typer.Option(False, help="Replace an existing profile (and discard an unfinished run)."),
    force_device: bool = typer.Option(False, "--force-device", help="Measure even where the machine is not the "
                                      "device the spec describes (a Jetson spec on a PC, a named CPU on another "
                                      "one); the profile's provenance records it (docs/profiling.md)."),
    remote: str = typer.Option(None, "--remote", help="Measure on another machine, ssh://user@host or "
                               "ssh://user@host:port, which has the same hwdiff version; the profile is copied back "
                               "here (docs/remote.md)."),
    identity: Path = IDENTITY,
    remote_python: str = REMOTE_PYTHON,
    progress_lines: bool = typer.Option(False, "--progress-lines", hidden=True, help="Progress as JSON lines on "
                                        "stderr instead of a bar (what --remote reads on the other side)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Measure a device's latency lookup table (lut profile) or few-shot profile (--networks), or import a
    per-architecture table (--from-table)."""
    from hwdiff.spaces import get_space

    get_space(space)
    check_seed("--seed", seed)  # here too: before --remote connects or --plan writes
    if remote is None and (identity is not None or remote_python is not None):
        raise HwdiffError("--identity and --remote-python go with --remote ssh://user@host; add --remote or drop them")
    few_shot = _few_shot_options(networks, holdout, plan_csv, validate, from_table)
    if plan_csv is not None:
        _write_plan(plan_csv, device, space, few_shot, seed, force, json_out,
                    given=(("--backend", backend), ("--precision", precision), ("--batch", batch),
                           ("--threads", threads), ("--resume", resume), ("--realtime", realtime),
                           ("--remote", remote), ("--out", out), ("--force-device", force_device)))
        return
    validate = 100 if validate is None else validate
    if from_table is not None:
        given = [name for name, value in (("--backend", backend), ("--precision", precision), ("--batch", batch),
                                          ("--threads", threads), ("--resume", resume), ("--realtime", realtime),
                                          ("--remote", remote), ("--force-device", force_device))
                 if value not in (None, False)]
        if given:
            raise HwdiffError(f"{', '.join(given)} describe a measurement; --from-table imports figures as they are "
                              "(drop them, or drop --from-table to measure)")
        from hwdiff.hardware.table_import import import_latency_table

        result = import_latency_table(from_table, device=device, space=space, dataset=dataset, out=out,
                                      force=force)
        _print_import(result, json_out)
        return
    if remote is not None:
        from hwdiff.hardware.ssh import Remote

        options = {"device": device, "space": space, "dataset": dataset, "backend": backend, "precision": precision,
                   "batch_size": batch, "threads": threads, "validate": validate, "rounds": rounds, "seed": seed,
                   "force_device": force_device, **(few_shot or {})}
        _profile_remote(Remote(remote, identity=identity, python=remote_python), options, out=out, force=force,
                        resume=resume, realtime=realtime, json_out=json_out)
        return
    from hwdiff.hardware.profiles import claim_profile_path, partial_path, profile_path
    from hwdiff.hardware.profiling import plan_profile, run_profile
    from hwdiff.hardware.remote import format_progress

    if few_shot is not None:
        from hwdiff.hardware.fewshot_run import plan_few_shot

        plan = plan_few_shot(device, space=space, dataset=dataset, backend=backend, precision=precision,
                             batch_size=batch, threads=threads, rounds=rounds, seed=seed, force_device=force_device,
                             **few_shot)
    else:
        plan = plan_profile(device, space=space, dataset=dataset, backend=backend, precision=precision,
                            batch_size=batch, threads=threads, validate=validate, rounds=rounds, seed=seed,
                            force_device=force_device)
    target = profile_path(plan.filename, out)
    claim_profile_path(target, force)  # before the first line says that profiling starts
    side = partial_path(target)
    if resume and not side.exists():
        warn(f"nothing to resume ({side} does not exist); starting a new run")
    if plan.device_override:
        warn(f"--force-device: {plan.device_override}; measuring it anyway (recorded in the profile)")
    err_console.print(
        f"profiling {plan.device} ({plan.space}, {plan.dataset}) with {plan.backend} {plan.precision} "
        f"batch {plan.batch_size}, {plan.threads} thread(s) on {plan.target}: "
        f"{plan.describe()}, {plan.rounds} round(s) -> {target}", markup=False)
    with _progress_bar(quiet=progress_lines) as bar:
        task = bar.add_task("preparing", total=None)

        def progress(done: int, total: int, label: str) -> None:
            if progress_lines:
                sys.stderr.write(format_progress(done, total, label) + "\n")
                sys.stderr.flush()
            bar.update(task, completed=done, total=total, description=label)

        try:
            report = run_profile(plan, out, force=force, resume=resume, realtime=realtime, progress=progress)
        except KeyboardInterrupt:
            bar.stop()
            if not side.exists():
                raise Interrupted("nothing was measured yet, nothing kept", "starts the run again") from None
            raise Interrupted(f"the finished measurements are kept in {side}", "continues them",
                              add_flags=["--resume"]) from None
        except BrokenPipeError:  # whoever reads our output is gone (a dropped --remote connection)
            _drop_stdio()  # the side file was saved on the way out; nobody is left to tell
            raise typer.Exit(141) from None
    for line in report.warnings:
        warn(line)
    if report.throttle_reasons:
        warn(f"the device throttled during the run ({'; '.join(report.throttle_reasons)}): its figures may be "
             "slower than the device at full speed")
    result = report.profile
    summary = {"file": str(result.path), "device": result.device, "space": result.space, "dataset": result.dataset,
               "backend": plan.backend, "precision": plan.precision, "batch_size": plan.batch_size,
               "threads": plan.threads, **_kind_summary(result), "seconds": round(report.seconds, 1),
               "resumed_jobs": report.resumed_jobs, "jobs": report.jobs, "disturbed_samples": report.disturbed_share,
               "throttle_reasons": report.throttle_reasons, **_kind_result(result)}
    if json_out:
        print_json(summary)
        return
    _print_result(result)
    console.print(f"{_measured(result)} measured in {report.seconds:.0f} s"
                  + (f" ({report.resumed_jobs} of {report.jobs} measurements resumed)" if report.resumed_jobs else "")
                  + f"; profile written to {result.path}", markup=False)


def _print_import(profile: Profile, json_out: bool) -> None:
    """What ``--from-table`` made: a table's size, or a few-shot fit's measured count, stated error, nearest devices."""
    from hwdiff.hardware.fewshot import FewShotProfile

    doc = {"file": str(profile.path), "device": profile.device, "space": profile.space, "kind": profile.kind,
           "entries": len(profile) if hasattr(profile, "__len__") else None}
    if isinstance(profile, FewShotProfile):
        doc.update(_fewshot_facts(profile), validation=profile.validation)
    if json_out:
        print_json(doc)
        return
    if not isinstance(profile, FewShotProfile):
        console.print(f"imported {len(profile)} architectures for device {profile.device} ({profile.space}) into "
                      f"{profile.path}", markup=False)
        return
    console.print(f"fitted a few-shot profile of device {profile.device} ({profile.space}) to {doc['measured']} "
                  f"measured networks: {_validation(profile)} ({profile.validation['method']}); nearest shipped "
                  f"devices {_nearest(doc['nearest_devices'])}; written to {profile.path}", markup=False)


def _fewshot_facts(profile: FewShotProfile) -> dict[str, Any]:
    """Measured and held-out counts, and the shipped devices whose latency the fit resembles most."""
    return {"measured": len(profile.archs), "held_out": len(profile.holdout[0]) if profile.holdout else 0,
            "nearest_devices": [{"device": d, "similarity": round(s, 3)}
                                for d, s in profile.model.nearest_sources(profile.device_fit)]}


def _fewshot_networks(profile: FewShotProfile) -> list[dict[str, Any]]:
    """Each measured network with the profile's prediction (fitted ones: in-sample; held-out ones: not)."""
    sets = [("fitted", profile.archs, profile.latency_ms)]
    if profile.holdout:
        sets.append(("held out", *profile.holdout))
    return [{"arch": a, "role": role, "measured_ms": float(m), "predicted_ms": float(p)}
            for role, archs, measured in sets for a, m, p in zip(archs, measured, profile.predict(archs))]


def _nearest(devices: list[dict[str, Any]]) -> str:
    return ", ".join(f"{d['device']} ({d['similarity']:.2f})" for d in devices)


def _few_shot_options(networks: int | None, holdout: int | None, plan_csv: Path | None, validate: int | None,
                      from_table: Path | None) -> dict[str, int] | None:
    """``--networks``/``--holdout`` (``--plan`` implies the default design size), or None for a lut run."""
    if networks is None and plan_csv is None:
        if holdout is not None:
            raise HwdiffError("--holdout goes with --networks N (a few-shot profile); add --networks or drop it")
        return None
    if from_table is not None:
        raise HwdiffError("--networks and --plan choose networks to measure; --from-table imports measured ones "
                          "(drop one of them)")
    if validate is not None:
        raise HwdiffError("--validate belongs to lookup-table profiles; a few-shot profile states its error on "
                          "--holdout networks")
    from hwdiff.hardware.fewshot import DEFAULT_HOLDOUT, DEFAULT_NETWORKS

    return {"networks": DEFAULT_NETWORKS if networks is None else networks,
            "holdout": DEFAULT_HOLDOUT if holdout is None else holdout}


def _write_plan(path: Path, device: str, space: str, few_shot: dict[str, int], seed: int, force: bool,
                json_out: bool, given: tuple[tuple[str, Any], ...]) -> None:
    """``--plan``: the archs a user times with their own tools, then imports with --from-table."""
    named = [name for name, value in given if value not in (None, False)]
    if named:
        raise HwdiffError(f"{', '.join(named)} describe a measurement; --plan only writes the archs to measure "
                          "(drop them, or drop --plan to measure here)")
    from hwdiff.hardware.fewshot_run import write_plan_csv

    archs = write_plan_csv(path, space, few_shot["networks"], seed, force=force)
    if json_out:
        print_json({"file": str(path), "device": device, "space": space, "networks": len(archs), "seed": seed,
                    "archs": archs})
        return
    console.print(f"{len(archs)} {space} architectures to measure written to {path} (seed {seed}); fill in "
                  f"latency_ms and import them with `hwdiff profile --device {device} --space {space} "
                  f"--from-table {path}`", markup=False)


def _kind_summary(profile: Profile) -> dict[str, Any]:
    if profile.kind == "fewshot":
        holdout = profile.holdout[0] if profile.holdout else []
        return {"networks": len(profile.archs), "holdout": len(holdout)}
    return {"layers": len(profile)}


def _kind_result(profile: Profile) -> dict[str, Any]:
    if profile.kind == "fewshot":
        return {"validation": profile.validation,
                "nearest_devices": [[d, round(s, 3)] for d, s in profile.model.nearest_sources(profile.device_fit)]}
    return {"calibration": profile.calibration, "validation": profile.validation}


def _measured(profile: Profile) -> str:
    if profile.kind == "fewshot":
        held = len(profile.holdout[0]) if profile.holdout else 0
        return f"{len(profile.archs)} networks" + (f" and {held} held-out ones" if held else "")
    return f"{len(profile)} layers and {profile.provenance['plan']['validate']} networks"


def _print_result(profile: Profile) -> None:
    if profile.kind != "fewshot":
        _print_validation(profile)
        return
    v = profile.validation
    table = Table(title=f"Stated error: {v['method']}", title_justify="left")
    for col in ("MAPE", "within ±10 %", "Kendall tau", "Spearman"):
        table.add_column(col, justify="right")
    tau = v.get("kendall_tau")
    table.add_row(f"{v['mape']:.1f} %", f"{v['within_10pct']:.0%}", "-" if tau is None else f"{tau:.3f}",
                  f"{v['spearman']:.3f}")
    console.print(table)


def _progress_bar(quiet: bool = False) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    return Progress(*columns, console=err_console, transient=True, disable=quiet)


def _drop_stdio() -> None:
    """Point stdout and stderr at /dev/null, so that exiting does not fail again on the broken pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _profile_remote(remote: Remote, options: dict[str, Any], *, out: Path | None, force: bool, resume: bool,
                    realtime: bool, json_out: bool) -> None:
    """``hwdiff profile --remote``: check the board, run the same profiling there, copy the profile back."""
    from hwdiff.hardware.remote_profile import RemoteProfileRun

    where = remote.target.destination
    err_console.print(f"checking {remote.target.url} (Python {remote.python!r}, hwdiff {__version__}) ...",
                      markup=False)
    run = RemoteProfileRun.prepare(remote, options, out=out, force=force, resume=resume, realtime=realtime)
    board = run.board
    err_console.print(f"{where} is {board.host}: Python {board.python} ({board.executable}), hwdiff {board.hwdiff}",
                      markup=False)
    if run.finished_on_board:
        err_console.print(f"{where} has finished this run already (--resume): copying {run.remote_target}",
                          markup=False)
    with _progress_bar() as bar:
        task = bar.add_task(f"starting on {where}", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        def board_line(line: str) -> None:
            bar.console.print(f"[{where}] {line}", markup=False, soft_wrap=True)

        try:
            result = run.run(progress=progress, on_line=board_line)
        except KeyboardInterrupt:
            bar.stop()
            raise Interrupted(f"{where} keeps what it finished in {run.remote_partial}", "continues it",
                              add_flags=["--resume"]) from None
    profile = result.profile
    summary = {**result.summary, "file": str(profile.path), **_kind_summary(profile),
               "validation": profile.validation, **_kind_result(profile),
               "remote": profile.provenance["remote"]}
    if json_out:
        print_json(summary)
        return
    _print_result(profile)
    how = (f"copied from {where}" if result.copied_only else
           f"{_measured(profile)} measured on {where} in {result.summary.get('seconds', 0):.0f} s")
    resumed = result.summary.get("resumed_jobs")
    if resumed:
        how += f" ({resumed} of {result.summary['jobs']} measurements resumed)"
    console.print(f"{how}; profile written to {profile.path}", markup=False)


def _print_validation(profile: LutProfile) -> None:
    v = profile.validation
    if not v:
        console.print("not validated (--validate 0): the summed layer latencies are used uncalibrated", markup=False)
        return
    table = Table(title=f"Validation on {v['held_out']} held-out networks (calibrated on {v['fit']})",
                  title_justify="left")
    for col in ("MAPE", "within ±10 %", "within ±5 %", "Kendall tau", "max error", "uncalibrated MAPE"):
        table.add_column(col, justify="right")
    tau = v.get("kendall_tau")
    table.add_row(f"{v['mape']:.1f} %", f"{v['within_10pct']:.0%}", f"{v['within_5pct']:.0%}",
                  "-" if tau is None else f"{tau:.3f}", f"{v['max_abs_error_pct']:.1f} %",
                  f"{v['uncalibrated_mape']:.1f} %")
    console.print(table)
