"""``hwdiff train``, ``hwdiff search``, ``hwdiff predict``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from hwdiff.cli.interrupt import interruptible
from hwdiff.cli.remote_options import IDENTITY, REMOTE_PYTHON
from hwdiff.cli.render import console, err_console, fmt_count, print_json, progress_bar, units_caption, warn
from hwdiff.diffusion.config import DEFAULT_SAMPLING_STEPS, TrainConfig
from hwdiff.errors import HwdiffError, check_range, check_seed
from hwdiff.search.config import MAX_SAMPLES, BudgetedConfig
from hwdiff.search.constraints import Constraints, parse_accuracy, parse_latency
from hwdiff.search.margin import DEFAULT_CONFIDENCE

if TYPE_CHECKING:
    from hwdiff.generator.train import TrainedModel
    from hwdiff.hardware.profiles import LatencyKind
    from hwdiff.search.scoring import Candidate
    from hwdiff.search.search import SearchResult

SPACE = typer.Option("nb201", help="Search space.")
DATASET = typer.Option(None, help="Dataset whose accuracy is conditioned on and reported "
                                   "(default: the space's first: cifar10 for nb201, imagenet for effnet).")
DEVICE = typer.Option(None, help="Target device (see `hwdiff devices`; default: pixel3 for nb201, a100 for "
                                  "effnet).")
PROFILE = typer.Option(None, "--profile", help="Use this profile file instead of the device's default one.")
SEED = typer.Option(0, help="Seed: the same seed gives the same model and the same samples.")
JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
TRAIN_STEPS = typer.Option(None, "--train-steps", help=f"Training steps of the generator (default "
                                                       f"{TrainConfig().steps}; with --labels, of its unlabelled "
                                                       f"pre-training: {BudgetedConfig().pretrain_steps}).")


@contextlib.contextmanager
def training_progress(quiet: bool) -> Iterator:
    """A progress bar on stderr (so --json output stays clean); yields the library's callback."""
    columns = (TextColumn("training generator"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn())
    with progress_bar(*columns, quiet=quiet) as bar:
        task = bar.add_task("train", total=None, loss=float("nan"))

        def update(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=loss)

        yield update


def _model_line(model: TrainedModel | None) -> str:
    if model is None:
        return "generator: pre-trained unlabelled, fine-tuned in rounds on the labels it chose"
    m = model.meta
    if model.generator.shared:
        return (f"generator: shared {m['space']}/{m['dataset']} (shipped, no training; learned on "
                f"{len(m['source_devices'])} devices and {m['synthetic_devices']} synthetic ones; conditioned on "
                "this device's profile)")
    how = "loaded" if model.reused else f"trained in {m['train_seconds_this_run']:.0f} s"
    return (f"generator: {model.path.name} ({how}; {m['labelled']:,} labelled of {m['training_archs']:,} archs, "
            f"{m['steps_done']} steps)")


def train(
    space: str = SPACE, dataset: str = DATASET, device: str = DEVICE, profile: Path = PROFILE,
    labels: int = typer.Option(None, help="Train on the accuracy of only N random architectures (default: all)."),
    seed: int = SEED,
    train_steps: int = TRAIN_STEPS,
    force: bool = typer.Option(False, help="Retrain even if a model for these settings is stored."),
    json_out: bool = JSON,
) -> None:
    """Train the conditional graph-diffusion generator and store it (resumes an interrupted run)."""
    from hwdiff import api

    with training_progress(False) as update, interruptible(*_STORED):
        model = api.train(space, dataset, device, profile, labels=labels, seed=seed, train_steps=train_steps,
                          force=force, progress=update, on_problem=warn)
    if json_out:
        print_json({"path": str(model.path), "reused": model.reused, **model.meta})
        return
    console.print(_model_line(model), markup=False)
    console.print(f"stored in {model.path}", markup=False)


# What train and search keep when stopped outside training: what the model store holds.
_STORED = ("generators trained to the end stay stored, with any training checkpoint", "reuses them")


def _guidance_weights(weights: str) -> tuple[float, ...]:
    """``--weights`` as numbers (the library checks them with the guidance mode: ``api.check_guidance``)."""
    from hwdiff import api

    try:
        if not weights.isascii():  # float() reads other scripts' digits too
            raise ValueError("write the weights with ASCII digits")
        return tuple(float(w) for w in weights.split(","))
    except ValueError as exc:
        raise HwdiffError(f"bad guidance weights {weights!r}: {exc}; {api.GUIDANCE_EXAMPLE}") from None


def _candidate_table(title: str, candidates: list[Candidate], accuracy_metric: str, latency_kind: LatencyKind | None,
                     novelty: bool = True) -> Table:
    table = Table(title=title, title_justify="left", caption=units_caption(accuracy_metric, latency_kind),
                  caption_justify="left")
    columns = [("#", "right"), ("arch", "left"), ("accuracy", "right"),
               (latency_kind.short if latency_kind else "latency", "right"), ("params", "right")]
    for col, justify in columns + ([("novel", "left")] if novelty else []):
        table.add_column(col, justify=justify, overflow="fold")
    for i, c in enumerate(candidates, 1):
        acc = f"{c.accuracy:.2%}" + (f" ± {c.accuracy_std:.2%}" if c.accuracy_std is not None else "")
        row = [str(i), c.arch, acc, f"{c.latency_ms:.4g} ms", fmt_count(c.params) if c.params is not None else "-"]
        table.add_row(*row, *(["yes" if c.novel else "no"] if novelty else []))
    return table


def _render_search(result: SearchResult) -> None:
    c = result.constraints
    console.print(f"space [bold]{result.space}[/] · dataset [bold]{result.dataset}[/] · device "
                  f"[bold]{result.device}[/] · accuracy = {result.accuracy_metric} · latency from "
                  f"{result.scored[0].latency_source if result.scored else '-'}"
                  f"{' (' + result.latency_kind.label + ')' if result.latency_kind else ''}", highlight=False)
    console.print(_model_line(result.model), markup=False)
    want = []
    if c.accuracy is not None:
        want.append(f"accuracy ≥ {c.accuracy:.2%}")
    if c.latency_ms is not None:
        want.append(f"{result.latency_kind.short if result.latency_kind else 'latency'} ≤ {c.latency_ms:g} ms")
    console.print("constraints: " + (", ".join(want) or "none (best available)"), markup=False)
    if result.margin is not None:
        m = result.margin
        console.print(f"aimed at ≤ {m.bound_ms:.4g} ms, so that a network meets {m.budget_ms:g} ms on the device with "
                      f"{m.confidence:.0%} confidence under the profile's stated error (log-sd {m.log_sd:.3f}); "
                      "--confidence 0.5 aims at the budget itself", markup=False)
    if result.candidates:
        console.print(_candidate_table("Architectures meeting the constraints", result.candidates,
                                       result.accuracy_metric, result.latency_kind))
    else:
        console.print("[bold red]No sampled architecture meets both constraints.[/]")
        shown = []
        if result.best_within_latency:
            shown.append(result.best_within_latency)
            console.print("most accurate within the latency budget: see row 1", markup=False)
        if result.fastest_meeting_accuracy:
            shown.append(result.fastest_meeting_accuracy)
            console.print(f"fastest meeting the accuracy: see row {len(shown)}", markup=False)
        if shown:
            console.print(_candidate_table("Closest alternatives", shown, result.accuracy_metric,
                                           result.latency_kind))
    s = result.stats
    console.print(f"samples {s.samples}, valid {s.valid} ({s.valid / s.samples:.0%}), unique {s.unique}, "
                  f"novel {s.novel}, feasible {s.feasible:.0%} of raw samples, {s.seconds:.2f} s "
                  f"({s.archs_per_second:.0f} archs/s)", markup=False)


def search(
    space: str = SPACE, dataset: str = DATASET, device: str = DEVICE, profile: Path = PROFILE,
    acc: str = typer.Option(None, "--acc", help="Accuracy at least: 0.93 or 93%. Absent: best available."),
    latency: str = typer.Option(None, "--latency", help="Latency at most: 10ms, 0.01s or 800us."),
    top: int = typer.Option(5, help="How many architectures to list."),
    samples: int = typer.Option(None, help="Architectures to generate (default 1000; with --labels, per round: 500)."),
    labels: int = typer.Option(None, help="Learn the accuracy of at most N architectures, chosen by the generator "
                                          "in rounds; list only labelled ones."),
    seed: int = SEED,
    guidance: str = typer.Option("joint", help="Guidance form: joint or composed."),
    weights: str = typer.Option("2", help="Guidance weight(s): w for joint; w_acc,w_lat for composed."),
    steps: int = typer.Option(DEFAULT_SAMPLING_STEPS, help="Sampling steps (of 500; skipping is exact)."),
    plot: Path = typer.Option(None, "--plot", help="Write a Pareto plot (PNG) here."),
    train_steps: int = TRAIN_STEPS,
    verify: int = typer.Option(None, "--verify", help="Measure the top K networks on the device with the profile's "
                               "own measurement setup, drop those over the budget when measured (`--verify` alone: "
                               "the top 10; lists at least K)."),
    remote: str = typer.Option(None, "--remote", help="With --verify: measure on the board, ssh://user@host[:port], "
                               "which has the same hwdiff version (docs/remote.md)."),
    identity: Path = IDENTITY,
    remote_python: str = REMOTE_PYTHON,
    generator: str = typer.Option("auto", help="shared: the shipped generator for every device (no training); "
                                               "device: one trained for this device (minutes, once); auto: shared "
                                               "where one ships and nothing asks to train."),
    confidence: float = typer.Option(DEFAULT_CONFIDENCE, help="Aim below the latency budget so that a returned "
                                     "network meets it on the device with this probability, under the profile's "
                                     "stated error (0.5: aim at the budget; a measured table has no error)."),
    json_out: bool = JSON,
) -> None:
    """Generate architectures that meet an accuracy target and a latency budget on a device."""
    from hwdiff import api

    constraints = Constraints(parse_accuracy(acc) if acc is not None else None,
                              parse_latency(latency) if latency is not None else None)
    from hwdiff.cli.verify import measuring_progress, render_verification, verify_request

    request = api.SearchRequest(space=space, dataset=dataset, device=device, profile=profile, constraints=constraints,
                                top=top, samples=samples, labels=labels, seed=seed, guidance=guidance,
                                weights=_guidance_weights(weights), steps=steps, train_steps=train_steps,
                                generator=generator, confidence=confidence,
                                verify=verify_request(verify, remote, identity, remote_python))
    from hwdiff.search.history import save_last_search
    from hwdiff.search.plot import check_writable, plot_search

    if plot is not None:
        check_writable(plot)
    with training_progress(json_out) as update, interruptible(*_STORED):
        result = api.search(request, progress=update, on_problem=warn, on_measure=measuring_progress(json_out))
    doc = result.to_json()
    save_last_search(doc)
    if plot is not None:
        plot_search(result, plot)
    if json_out:
        print_json(doc)
        return
    _render_search(result)
    if result.verification is not None:
        render_verification(result.verification)
    if plot is not None:
        console.print(f"plot written to {plot}", markup=False)


_ARCHS_FILE_CHARS = 200 * MAX_SAMPLES  # room for MAX_SAMPLES architectures of either space, with comments


def _given_archs(archs: list[str] | None, archs_file: Path | None) -> list[tuple[str, str]]:
    """(where, text) of each architecture given: the arguments, then the file's lines (not blank, not #)."""
    given = [(f"architecture {i}", a) for i, a in enumerate(archs or [], 1)]
    if archs_file is None:
        return given
    try:
        with archs_file.open(encoding="utf-8") as f:
            text = f.read(_ARCHS_FILE_CHARS + 1)  # bounded: /dev/zero or a huge file is refused, not read
    except (OSError, UnicodeDecodeError) as exc:
        raise HwdiffError(f"cannot read {archs_file}: {exc}") from None
    if len(text) > _ARCHS_FILE_CHARS:
        raise HwdiffError(f"--archs {archs_file} is longer than {_ARCHS_FILE_CHARS:,} characters; give at most "
                          f"{MAX_SAMPLES:,} architectures")
    given += [(f"{archs_file} line {n}", ln.strip()) for n, ln in enumerate(text.splitlines(), 1)
              if ln.strip() and not ln.lstrip().startswith("#")]
    check_range("--archs", len(given), 0, MAX_SAMPLES, " architectures")
    return given


def predict(
    archs: list[str] = typer.Argument(None, help="Architecture strings."),
    archs_file: Path = typer.Option(None, "--archs", help="A file with one architecture per line."),
    space: str = SPACE, dataset: str = DATASET, device: str = DEVICE, profile: Path = PROFILE,
    json_out: bool = JSON,
) -> None:
    """Score architectures with exactly the scorer search uses: accuracy, latency, params."""
    from hwdiff.errors import InvalidArchError
    from hwdiff.generator.context import resolve_context
    from hwdiff.search.scoring import Scorer
    from hwdiff.spaces import get_space

    given = _given_archs(archs, archs_file)
    if not given:
        raise HwdiffError("no architectures given: pass them as arguments or with --archs FILE (one per line)")
    canonical = []
    for where, text in given:  # before loading anything: a bad string is refused at once, by where it is
        try:
            canonical.append(get_space(space).canonical(text))
        except InvalidArchError as exc:
            raise InvalidArchError(f"{where}: {exc}") from None
    ctx = resolve_context(space, dataset, device, profile)
    scored = Scorer(ctx.space, ctx.dataset, ctx.oracle, ctx.profile).score(canonical, with_params=True)
    if json_out:
        print_json([{k: v for k, v in c.to_json().items() if k != "novel"} for c in scored])
        return
    kind = ctx.profile.latency_kind
    console.print(f"space {space} · dataset {ctx.dataset} ({ctx.oracle.metric}) · device {ctx.device} "
                  f"({scored[0].latency_source}, {kind.label})", markup=False)
    console.print(_candidate_table("Predictions", scored, ctx.oracle.metric, kind, novelty=False))


def bench_search(
    space: str = typer.Option("nb201", help="nb201 (regret against the full table) or effnet (against the records)."),
    dataset: list[str] = typer.Option(None, help="nb201 datasets (repeatable; default all three)."),
    device: list[str] = typer.Option(None, help="Devices (repeatable; default: the benchmark's set for the space)."),
    quantile: list[int] = typer.Option(None, help="Latency-budget quantiles in percent (repeatable)."),
    samples: int = typer.Option(1000, help="Samples per search."),
    seed: int = SEED,
    generator: str = typer.Option("device", help="device: train (or load) one generator per device; shared: the "
                                                 "shipped generator for every device."),
    json_out: bool = JSON,
) -> None:
    """Benchmark search: training time, archs/s, feasible share, and regret (nb201) or the margin over the
    best shipped record (effnet) per latency budget."""
    from hwdiff.search.benchmark import PROTOCOLS

    if space not in PROTOCOLS:
        raise HwdiffError(f"bench-search covers the spaces {' and '.join(PROTOCOLS)}, not --space {space!r}")
    check_range("--samples", samples, 1, MAX_SAMPLES)
    check_seed("--seed", seed)
    for q in quantile or ():
        check_range("--quantile", q, 1, 99, " (percent)")
    if generator not in ("device", "shared"):
        raise HwdiffError(f"--generator {generator!r} is not known; accepted: device, shared")

    def show(row: object) -> None:
        if not json_out:
            err_console.print(f"  {row}", markup=False)

    with interruptible(f"{_STORED[0]}; the benchmark's figures are not kept", f"{_STORED[1]} and measures again"):
        doc = PROTOCOLS[space](dataset, device, quantile, samples, seed, show, generator)
    if json_out:
        print_json(doc)
        return
    _BENCH_TABLES[space](doc)
    for t in doc["training"]:
        how = "shared generator, shipped" if t["generator"] == "shared" else \
            f"{t['train_seconds']:.0f} s{' (loaded)' if t['reused'] else ''}"
        console.print(f"training {t['dataset']}/{t['device']}: {how}, {t['steps']} steps", markup=False)


def _render_nb201_bench(doc: dict) -> None:
    table = Table(title="Search under a latency budget (nb201, 200-epoch test accuracy)", title_justify="left",
                  caption=_bench_caption(doc), caption_justify="left")
    for col in ("dataset", "device", "quantile", "budget", "ms are", "feasible", "regret (pp)", "best", "returned",
                "unique"):
        table.add_column(col, justify="right")
    for r in doc["budgets"]:
        table.add_row(r["dataset"], r["device"], f"{r['quantile']}%", f"{r['budget_ms']:.3g} ms",
                      _latency_short(r), f"{r['feasible']:.1%}", f"{r['regret']:.2f}", f"{r['best_feasible']:.2f}",
                      "-" if r["returned"] is None else f"{r['returned']:.2f}", str(r["unique"]))
    console.print(table)
    for r in doc["sampling"]:
        console.print(f"sampling at batch {r['batch']}: {r['archs_per_second']:.0f} archs/s "
                      f"(valid {r['valid']:.0%}, unique {r['unique']:.1%})", markup=False)
    s = doc["summary"]
    console.print(f"mean regret {s['mean_regret']:.2f} pp, max {s['max_regret']:.2f} pp; lowest feasible share "
                  f"at or above the 25% quantile {s['min_feasible_at_or_above_q25']:.1%}", markup=False)


def _render_effnet_bench(doc: dict) -> None:
    table = Table(title="Search under a latency budget (effnet, predicted proxy-trained top-1)", title_justify="left",
                  caption=_bench_caption(doc), caption_justify="left")
    for col in ("device", "quantile", "budget", "ms are", "feasible", "top-1 predicted", "best record predicted",
                "its measured", "margin (pp)", "archs/s"):
        table.add_column(col, justify="right")
    for r in doc["budgets"]:
        table.add_row(r["device"], f"{r['quantile']}%", f"{r['budget_ms']:.3g} ms", _latency_short(r),
                      f"{r['feasible']:.1%}",
                      "-" if r["returned_predicted"] is None else f"{r['returned_predicted']:.2f}",
                      f"{r['record_predicted']:.2f}", f"{r['record_measured']:.2f}",
                      "-" if r["margin"] is None else f"{r['margin']:+.2f}", f"{r['archs_per_second']:.0f}")
    console.print(table)
    s = doc["summary"]
    console.print(f"every top-1 at least as good as the best record: {s['all_at_least_best_record']}; "
                  f"smallest margin {s['min_margin']}; slowest sampling {s['min_archs_per_second']:.0f} archs/s",
                  markup=False)


def _latency_short(row: dict) -> str:
    from hwdiff.hardware.latency_kind import LatencyKind

    return LatencyKind.from_json(row["latency_kind"]).short


def _bench_caption(doc: dict) -> str:
    """Accuracy kind(s) and every latency kind of the benchmark's devices, once under the table."""
    from hwdiff.hardware.latency_kind import LatencyKind

    metrics = sorted({r["accuracy_metric"] for r in doc["budgets"]})
    kinds = {r["device"]: LatencyKind.from_json(r["latency_kind"]).label for r in doc["budgets"]}
    return (f"accuracy: {'; '.join(metrics)}; ms: "
            + "; ".join(f"{device} {label}" for device, label in kinds.items()))


_BENCH_TABLES = {"nb201": _render_nb201_bench, "effnet": _render_effnet_bench}  # one per benchmark protocol
