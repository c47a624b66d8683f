"""``hwdiff eval``."""

from __future__ import annotations

import math

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hwdiff.cli.interrupt import interruptible
from hwdiff.cli.render import console, print_json, progress_bar
from hwdiff.errors import HwdiffError
from hwdiff.search.config import METHODS, EvalConfig
from hwdiff.search.constraints import parse_latency


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def eval_command(
    space: str = typer.Option("nb201", help="Search space (the protocol needs a full table: nb201)."),
    dataset: list[str] = typer.Option(["cifar10"], help="Dataset(s): cifar10, cifar100, imagenet16 (repeatable)."),
    budget: int = typer.Option(200, help="12-epoch validation labels each method may see."),
    finalists: int = typer.Option(10, help="Cells each method names; the result is the best of them."),
    seeds: int = typer.Option(10, help="Number of seeds: FIRST..FIRST+N-1."),
    first_seed: int = typer.Option(0, "--first-seed", help="The first seed (10: seeds no setting was tuned on)."),
    methods: str = typer.Option(",".join(METHODS), help="Comma-separated: hwdiff, random, evolution."),
    device: str = typer.Option(None, help="Hardware-constrained variant: device whose latency bounds the search."),
    latency: str = typer.Option(None, help="Latency budget on --device, e.g. 5ms."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The honest NB201 protocol: few labels, several seeds, beside random search and regularised evolution."""
    from hwdiff.spaces import get_space

    if space != "nb201":
        get_space(space)
        raise HwdiffError(f"the label-budget protocol needs a complete accuracy table; space {space!r} has none "
                          "(accepted: nb201)")
    configs = [EvalConfig(dataset=d, budget=budget, finalists=finalists, seeds=seeds, first_seed=first_seed,
                          methods=tuple(m.strip() for m in methods.split(",") if m.strip()), device=device,
                          latency_ms=parse_latency(latency) if latency is not None else None)
               for d in dataset]
    for cfg in configs:
        cfg.validate()
        get_space("nb201").dataset(cfg.dataset)
    from hwdiff import api

    reports = []
    total = sum(c.seeds * len(c.methods) for c in configs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress_bar(*columns) as bar, interruptible(
            "a finished unlabelled pre-training stays stored; the runs are not kept",
            "reuses the pre-training and repeats the runs"):
        task = bar.add_task("eval", total=total)
        for cfg in configs:
            bar.update(task, description=f"{cfg.dataset}: pre-training (unlabelled)")

            def step(method: str, seed: int, cfg: EvalConfig = cfg) -> None:
                bar.update(task, advance=1, description=f"{cfg.dataset}: {method} seed {seed}")

            reports.append(api.evaluate(cfg, progress=step))
    if json_out:
        runs, summary = [], []
        for rep in reports:
            runs += [{"dataset": rep.config.dataset, **r} for r in rep.to_json()["runs"]]
            summary += [{"dataset": rep.config.dataset, **s} for s in rep.summary]
        print_json({"runs": runs, "summary": summary,
                    "reference": {r.config.dataset: {"optimum": r.optimum, "protocol_ceiling": r.ceiling,
                                                     "pretrain_seconds": r.pretrain_seconds, "seconds": r.seconds}
                                  for r in reports},
                    "config": {"budget": budget, "finalists": finalists, "seeds": seeds, "first_seed": first_seed,
                               "device": device, "latency_ms": configs[0].latency_ms,
                               "hwdiff": configs[0].budgeted.to_json()}})
        return
    where = f", latency ≤ {configs[0].latency_ms:g} ms on {device}" if device else ""
    table = Table(title=f"NB201 label-budget protocol: {budget} labels (12-epoch valid), {finalists} finalists, "
                        f"seeds {first_seed}-{first_seed + seeds - 1}{where}; result = best 200-epoch test "
                        "accuracy (%) of the finalists",
                  title_justify="left")
    for col in ("dataset", "method", "mean", "std", "min", "max", "labels used", "seconds"):
        table.add_column(col, justify="right")
    for rep in reports:
        for s in rep.summary:
            table.add_row(rep.config.dataset, s["method"], _fmt(s["mean"]), _fmt(s["std"]), _fmt(s["min"]),
                          _fmt(s["max"]), f"{s['labels_used']:.0f}", f"{s['seconds']:.1f}")
    console.print(table)
    for rep in reports:
        console.print(f"{rep.config.dataset}: optimum {rep.optimum:.2f}, protocol ceiling (top {finalists} by "
                      f"12-epoch valid of all cells) {rep.ceiling:.2f}; pre-training {rep.pretrain_seconds:.0f} s, "
                      f"total {rep.seconds:.0f} s", markup=False)
