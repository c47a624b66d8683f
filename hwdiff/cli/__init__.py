"""The ``hwdiff`` command line: thin commands that parse, call the library and render."""

from __future__ import annotations

import sys

import typer

from hwdiff import __version__
from hwdiff.cli.bench import bench_model
from hwdiff.cli.build import build
from hwdiff.cli.devices import devices
from hwdiff.cli.evaluate import eval_command
from hwdiff.cli.export import build_engine, export
from hwdiff.cli.finetune import finetune
from hwdiff.cli.interrupt import Interrupted, exit_code, stop_signals
from hwdiff.cli.lazy_coercion import defer_value_checks
from hwdiff.cli.profiles import profile, profiles_app
from hwdiff.cli.render import err_console
from hwdiff.cli.search import bench_search, predict, search, train
from hwdiff.cli.verify import measure_networks, with_optional_values
from hwdiff.errors import HwdiffError
from hwdiff.threads import configure_threads

try:  # recent typer vendors click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, UsageError

defer_value_checks()
app = typer.Typer(
    name="hwdiff",
    help="Hardware-aware neural architecture search by multi-conditioned graph diffusion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"hwdiff {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """hwdiff: profile devices, search architectures, build and export networks."""


app.command()(devices)
app.command()(profile)
app.add_typer(profiles_app, name="profiles")
app.command()(build)
app.command()(train)
app.command()(search)
app.command()(predict)
app.command(name="bench-search")(bench_search)
app.command(name="eval")(eval_command)
app.command()(finetune)
app.command()(export)
app.command(name="bench-model")(bench_model)
app.command(name="measure-networks", hidden=True)(measure_networks)  # run on the board by search --verify
app.command(name="build-engine", hidden=True)(build_engine)  # run on the board by export --remote


def _command_name(argv: list[str]) -> str | None:
    """The subcommand's name: the root takes no option values, so it is the first non-option word."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    argv = with_optional_values(argv, _command_name(argv))
    command = typer.main.get_command(app)
    received: list[int] = []
    try:
        with stop_signals() as received:
            configure_threads(_command_name(argv))  # before any command imports torch
            code = command.main(args=argv, prog_name="hwdiff", standalone_mode=False)
    except HwdiffError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        err_console.print(f"error: {exc.format_message()}{hint}", markup=False)
        sys.exit(2)
    except ClickException as exc:
        err_console.print(f"error: {exc.format_message()}", markup=False)
        sys.exit(exc.exit_code)
    except Interrupted as stop:
        err_console.print(stop.line(argv), markup=False, soft_wrap=True)
        sys.exit(exit_code(received))
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted", markup=False)
        sys.exit(exit_code(received))
    sys.exit(code if isinstance(code, int) else 0)
