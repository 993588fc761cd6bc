"""Checkpoints of a run: ``RUN_DIR/checkpoints/step-NNNNNNN/`` with the model (``model.safetensors`` +
``config.json``, our format) and ``training_state.pt`` (step, epoch, optimisers, random generators).

Every checkpoint is written into a hidden temporary folder and renamed into place, so a run killed at any
moment (even with SIGKILL) leaves only complete checkpoints; leftovers are removed on the next start.
A checkpoint damaged later (a disk error, a partial copy) is skipped when resuming, with a warning, in
favour of the newest one that loads.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fomm_cli.checkpoints import CONFIG_NAME, WEIGHTS_NAME
from fomm_cli.errors import CheckpointError, FommError, shorten
from fomm_cli.fsutil import replace_path
from fomm_cli.reporting import Reporter

STATE_NAME = "training_state.pt"
PINNED_NAME = "pinned"  # marker file: this checkpoint survives pruning (an epoch checkpoint)
STATE_KEYS = ("step", "epoch", "epoch_samples", "world_size", "rng", "optimizers", "schedulers", "scalers")
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (all three files present), oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and all((path / name).is_file() for name in (WEIGHTS_NAME, CONFIG_NAME, STATE_NAME)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(run_dir: Path, step: int, write_weights: Callable[[Path], None], state: dict[str, Any],
                    keep: int, pinned: bool = False) -> Path:
    """Write ``checkpoints/step-N`` atomically (``write_weights(folder)`` writes the model), refresh
    ``model/``, prune all but the newest ``keep`` unpinned checkpoints."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(step)
    tmp = folder / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    write_weights(tmp)
    torch.save(state, tmp / STATE_NAME)
    if pinned:
        (tmp / PINNED_NAME).touch()
    replace_path(tmp, final)
    _publish_model(run_dir, final)
    unpinned = [path for _, path in list_checkpoints(run_dir) if not (path / PINNED_NAME).exists()]
    for path in unpinned[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    return final


def _publish_model(run_dir: Path, checkpoint: Path) -> None:
    """``RUN_DIR/model`` = the checkpoint's weights and config (hard links when possible: no copy)."""
    tmp = run_dir / f".model.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        try:
            os.link(checkpoint / name, tmp / name)
        except OSError:
            shutil.copy2(checkpoint / name, tmp / name)
    replace_path(tmp, run_dir / "model")


def read_state(path: Path) -> dict[str, Any]:
    """The training state of a checkpoint folder; ``CheckpointError`` if it is unreadable or incomplete."""
    try:
        state = torch.load(path / STATE_NAME, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types for a damaged file; all mean "unreadable"
        raise CheckpointError(path / STATE_NAME, f"not readable ({shorten(str(err), 160)})") from None
    missing = [key for key in STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(path / STATE_NAME, "incomplete training state", missing[0])
    return state


def restore_newest(run_dir: Path, restore: Callable[[Path, dict[str, Any]], None],
                   reporter: Reporter) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest checkpoint that loads: ``restore(folder, state)`` puts its weights and state in place
    and raises ``FommError`` if they do not load. Each one skipped is reported as a warning. None when the
    run has no checkpoint; ``CheckpointError`` when it has some and none loads."""
    found = list_checkpoints(run_dir)
    for _, path in reversed(found):
        try:
            state = read_state(path)
            restore(path, state)
        except FommError as err:
            reporter.warn(f"skipped checkpoint {path.name}, which does not load: {err}")
            continue
        return path, state
    if found:
        raise CheckpointError(run_dir / "checkpoints", f"none of the {len(found)} checkpoint(s) loads")
    return None
