"""Small helpers shared by the subcommand modules (no heavy imports)."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """One JSON object on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def note(message: str, quiet: bool = False) -> None:
    """An informational line on stderr (stdout stays clean for --json and pipes)."""
    if not quiet:
        print(message, file=sys.stderr)
