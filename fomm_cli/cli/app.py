"""The `fomm` command: a Typer app with one thin module per subcommand.

Nothing here imports torch: subcommand modules import their job inside their functions, so `fomm --help`
and every check of flags and paths answer before torch loads.

Exit codes: 0 done, 1 a problem the user can fix (one line on stderr), 2 usage (bad flags or values),
128 + N stopped by signal N (130 Ctrl-C, 129 SIGHUP, 143 SIGTERM), 141 closed output pipe.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import typer

from fomm_cli import __version__, interrupts
from fomm_cli.cli import animate, crop, data, evaluate, models, train
from fomm_cli.cli.errors import exit_code, render
from fomm_cli.cli.options import PipeClosed, active_flags
from fomm_cli.errors import FommError, Interrupted

app = typer.Typer(
    name="fomm",
    help="Animate a still image with the motion of a driving video (First Order Motion Model).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: importing rich costs ~0.2 s of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = False


def _version(value: bool) -> None:
    if value:
        print(f"fomm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    global _debug
    _debug = debug


app.command("animate", no_args_is_help=True)(animate.animate)
app.command("crop", no_args_is_help=True)(crop.crop)
app.command("train", no_args_is_help=True)(train.train)
app.command("eval")(evaluate.evaluate)
app.add_typer(models.app, name="models")
app.add_typer(data.app, name="data")


def _click_modules() -> list[ModuleType]:
    """The click that typer raises from: recent typer releases vendor their own copy (``typer._click``),
    older ones use the ``click`` package; catch both, whichever is installed."""
    found = []
    try:
        from typer import _click

        found.append(_click)
    except ImportError:
        pass
    try:
        import click

        found.append(click)
    except ImportError:
        pass
    return found


def _quiet_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    interrupts.install()
    clicks = _click_modules()
    click_errors = tuple(m.exceptions.ClickException for m in clicks)
    aborts = (typer.Abort, *(m.exceptions.Abort for m in clicks if hasattr(m.exceptions, "Abort")))
    exits = (typer.Exit, *(m.exceptions.Exit for m in clicks if hasattr(m.exceptions, "Exit")))
    try:
        # Without standalone mode click returns the code of an Exit instead of exiting, and lets our
        # exceptions through.
        code = app(args=argv, prog_name="fomm", standalone_mode=False)
    except FommError as err:
        if _debug:
            raise
        print(f"fomm: error: {render(err, active_flags)}", file=sys.stderr)
        sys.exit(exit_code(err))
    except click_errors as err:
        err.show()
        sys.exit(err.exit_code)
    except exits as err:
        sys.exit(err.exit_code)
    except Interrupted as err:
        print(f"fomm: {err}", file=sys.stderr)
        sys.exit(128 + err.signal_number)
    except (KeyboardInterrupt, *aborts):
        print("fomm: interrupted by SIGINT", file=sys.stderr)
        sys.exit(130)
    except (BrokenPipeError, PipeClosed):
        _quiet_stdout()
        sys.exit(141)
    if isinstance(code, int) and code:
        sys.exit(code)
