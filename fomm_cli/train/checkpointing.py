"""The run folder of ``fomm train`` and its checkpoints.

    RUN_DIR/config.yaml                     effective config (official layout)
    RUN_DIR/log.jsonl                       one JSON object per logged step
    RUN_DIR/visuals/step-0000500.png        training batch pictures
    RUN_DIR/checkpoints/step-0000500/       model.safetensors + config.json (our format) + training_state.pt
    RUN_DIR/model/                          the newest weights in our format, for ``fomm animate``

Every checkpoint is written into a hidden temporary folder and renamed into place, so a run killed at any
moment (even with SIGKILL) leaves only complete checkpoints; leftovers are removed on the next start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import IO, Any

import torch

from fomm_cli.checkpoints import CONFIG_NAME, WEIGHTS_NAME, read_pretrained, save_pretrained
from fomm_cli.errors import FommError
from fomm_cli.fsutil import replace_path
from fomm_cli.models.model import FirstOrderModel

STATE_NAME = "training_state.pt"
LOCK_NAME = ".lock"
PINNED_NAME = "pinned"  # marker file: this checkpoint survives pruning (an epoch checkpoint)
RUN_ENTRIES = ("config.yaml", "log.jsonl", "visuals", "checkpoints", "model")
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and all((path / name).is_file() for name in (WEIGHTS_NAME, CONFIG_NAME, STATE_NAME)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def remove_partial(run_dir: Path) -> None:
    """Delete temporary folders left by a run that was killed while saving."""
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.startswith(".") and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Create ``run_dir``; refuse a non-empty one unless resuming, clear our entries with ``overwrite``."""
    if run_dir.exists() and not run_dir.is_dir():
        raise FommError(f"{run_dir} exists and is not a folder")
    if run_dir.is_dir() and any(p.name != LOCK_NAME for p in run_dir.iterdir()) and not resume:
        if not overwrite:
            raise FommError(f"{run_dir} is not empty: pass --resume to continue that run, or -y to start over")
        for name in RUN_ENTRIES:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_partial(run_dir)


def lock_run_dir(run_dir: Path) -> IO[str]:
    """Hold an exclusive lock on ``run_dir`` for as long as the returned file stays open (the OS drops it
    when the process ends, even on SIGKILL), so two trainers never write into one run."""
    handle = open(run_dir / LOCK_NAME, "a")  # noqa: SIM115 (kept open on purpose)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise FommError(f"another `fomm train` is running in {run_dir}") from None
    return handle


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def truncate_log(log_path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written by a run that died after its last checkpoint)."""
    if not log_path.is_file():
        return
    kept = []
    for line in log_path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
    write_text_atomic(log_path, "".join(f"{line}\n" for line in kept))


def save_checkpoint(run_dir: Path, step: int, model: FirstOrderModel, state: dict[str, Any], keep: int,
                    pinned: bool = False) -> Path:
    """Write ``checkpoints/step-N`` atomically, refresh ``model/``, prune all but the newest ``keep``."""
    folder = run_dir / "checkpoints"
    final = folder / checkpoint_name(step)
    tmp = folder / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_pretrained(model, tmp)
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


def load_checkpoint(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """The weights by part and the training state of a checkpoint folder."""
    _, weights = read_pretrained(path)
    try:
        state = torch.load(path / STATE_NAME, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise FommError(f"{path / STATE_NAME} is not readable ({str(err).splitlines()[0][:160]})") from None
    return weights, state
