"""What the subcommand modules share: the model-loading flags, the --json flag, and running a job with the
reporter the output mode calls for (no heavy imports)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from fomm_cli.cli.options import Flag
from fomm_cli.reporting import ConsoleReporter

OptionsT = TypeVar("OptionsT")

# The same flags, spelled the same way, wherever a model is loaded.
MODEL_FLAGS = {
    "model": Flag(("-m", "--model"), "Registered model name (see `fomm models list`)."),
    "checkpoint": Flag(("-c", "--checkpoint"), "Checkpoint path: official .pth.tar, our folder, or a training run."),
    "config": Flag(("--config",), "Official YAML or preset name (default: from the weights)."),
    "trust_checkpoint": Flag(("--trust-checkpoint",),
                             "Allow full unpickling of a checkpoint (only for files you trust)."),
}

JSON_FLAG: dict[str, tuple[type, Any]] = {
    "as_json": (bool, typer.Option(False, "--json", help="Print a JSON summary on stdout.")),
}


def print_json(data: Any, stream: Any = None) -> None:
    """One JSON object on stdout (or ``stream``), nothing else."""
    (stream or sys.stdout).write(json.dumps(data, indent=2, default=str) + "\n")


def note(message: str) -> None:
    """An informational line on stderr (stdout stays clean for --json and pipes)."""
    print(message, file=sys.stderr)


def finish(run: Callable[[OptionsT, ConsoleReporter], Any], options: OptionsT, as_json: bool,
           text: Callable[[Any], str], json_stream: Any = None) -> Any:
    """Run a job with the reporter for the output mode, then print its summary: JSON on ``json_stream``
    (stdout unless the job writes its result there), or ``text(summary)`` as a line on stderr."""
    reporter = ConsoleReporter(notes=not as_json)
    summary = run(options, reporter)
    if as_json:
        print_json(summary.to_json(), json_stream)
    else:
        note(text(summary))
    return summary
