"""The `fomm` command: a Typer app with one thin module per subcommand.

Nothing here imports torch: subcommand modules import the core inside their functions,
so `fomm --help` stays fast.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from fomm_cli.cli import animate, crop, data, evaluate, models, train
from fomm_cli.errors import FommError, SettingsError

app = typer.Typer(
    name="fomm",
    help="Animate a still image with the motion of a driving video (First Order Motion Model).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: importing rich costs ~0.2 s of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    if debug:
        os.environ["FOMM_DEBUG"] = "1"


app.command("animate", no_args_is_help=True)(animate.animate)
app.command("crop", no_args_is_help=True)(crop.crop)
app.command("train", no_args_is_help=True)(train.train)
app.command("eval")(evaluate.evaluate)
app.add_typer(models.app, name="models")
app.add_typer(data.app, name="data")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    try:
        # Without standalone mode click returns the code of an Exit (Ctrl-C becomes Exit(130)) instead of exiting.
        code = app(args=argv, prog_name="fomm", standalone_mode=False)
    except FommError as err:
        if os.environ.get("FOMM_DEBUG"):
            raise
        print(f"fomm: error: {err}", file=sys.stderr)
        sys.exit(2 if isinstance(err, SettingsError) else 1)
    except click.exceptions.SettingsError as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        print("fomm: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(141)
    if code == 130:
        print("fomm: interrupted", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)
