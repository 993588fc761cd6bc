"""Checks on an output path that run before any work (no heavy imports)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fomm_cli.errors import OutputError, OutputExists, UnsafeOutput

OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".gif", "")


def check_output(path: Path, *, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """Fail now, not after the work: unknown format, missing or read-only folder, an existing output without
    ``overwrite``, or an output that is one of the inputs."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES and not path.is_dir():
        raise OutputError(path, f"unknown output format {path.suffix!r}: use .mp4, .mov, .mkv, .gif or a folder")
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise UnsafeOutput(path, "it is one of the inputs")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExists(path)
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(path, "the folder does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(path, "the folder is not writable")
