"""Small helpers shared by the subcommand modules (no heavy imports)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer


def print_json(data: Any) -> None:
    """One JSON object on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def note(message: str, quiet: bool = False) -> None:
    """An informational line on stderr (stdout stays clean for --json and pipes)."""
    if not quiet:
        print(message, file=sys.stderr)


# Options shared by every command that loads a model (one definition, the same flags everywhere).

def model_option() -> Any:
    return typer.Option(None, "-m", "--model", help="Registered model name (see `fomm models list`).")


def checkpoint_option() -> Any:
    return typer.Option(None, "-c", "--checkpoint",
                        help="Checkpoint path: official .pth.tar, our folder, or a training run.")


def config_option() -> Any:
    return typer.Option(None, "--config", help="Official YAML or preset name (default: from the weights).")


def trust_option() -> Any:
    return typer.Option(False, "--trust-checkpoint",
                        help="Allow full unpickling of a checkpoint (only for files you trust).")


def device_option() -> Any:
    return typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps.")
