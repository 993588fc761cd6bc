"""The run folder of ``fomm train``: which config a run trains with, who may write into it, starting over.

    RUN_DIR/.lock                           held by the process training in the folder (its pid inside)
    RUN_DIR/config.yaml                     effective config (official layout)
    RUN_DIR/log.jsonl                       one JSON object per logged step
    RUN_DIR/losses.png                      the loss curves so far
    RUN_DIR/visuals/step-0000500.png        training batch pictures
    RUN_DIR/checkpoints/step-0000500/       see ``checkpointing``
    RUN_DIR/model/                          the newest weights in our format, for ``fomm animate``

Order of a start: every check that can fail on bad input, then the lock, and only then anything that
deletes or writes (``prepare``), so a run that is still training is never touched by another.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fomm_cli.errors import ConflictingSettings, FommError, InvalidSetting, MissingSetting, OutputExists, UnsafeOutput
from fomm_cli.fsutil import write_bytes_atomic
from fomm_cli.train.config import TrainConfig, read_config

if TYPE_CHECKING:
    from fomm_cli.train.tpsmm_config import TPSMMTrainConfig

LOCK_NAME = ".lock"
RUN_ENTRIES = ("config.yaml", "log.jsonl", "losses.png", "visuals", "checkpoints", "model")


def resolve_config(run_dir: Path, config: str | None, data: Path | None, resume: bool,
                   overrides: dict[str, Any], avd: bool = False) -> TrainConfig | TPSMMTrainConfig:
    """The config to train with: the run's saved one when resuming, else ``config``; then ``data`` and
    the overrides of the active training block on top. Resuming with ``config`` allows changing training
    settings but not the model. ``avd``: train a TPSMM's AVD network (a resumed AVD run stays one)."""
    from fomm_cli.pretrained import preset_path

    saved_path = run_dir / "config.yaml"
    saved = read_config(saved_path) if resume and saved_path.is_file() else None
    if config is not None:
        result = read_config(preset_path(config))
        if saved is not None and result.model != saved.model:
            raise InvalidSetting("config", config, f"the model of the run in {run_dir} (to change the "
                                 "architecture, start a new run in another folder)")
        if saved is not None and data is None:
            result.dataset.root_dir = saved.dataset.root_dir
    elif saved is not None:
        result = saved
    else:
        raise MissingSetting("config", "a YAML file or a preset name, unless resuming a run")
    result = _with_mode(result, avd, saved, run_dir)
    if data is not None:
        result.dataset.root_dir = str(data)
    if not result.dataset.root_dir:
        raise MissingSetting("data", "the config names no dataset_params.root_dir")
    # Absolute, so that a resumed run finds its data from any working directory.
    result.dataset.root_dir = str(Path(result.dataset.root_dir).expanduser().resolve())
    try:
        return result.with_overrides(**overrides)
    except ValueError as err:
        raise FommError(str(err)) from None


def _with_mode(config: TrainConfig | TPSMMTrainConfig, avd: bool, saved: TrainConfig | TPSMMTrainConfig | None,
               run_dir: Path) -> TrainConfig | TPSMMTrainConfig:
    """``config`` in AVD mode when asked, or when resuming a run that trains an AVD network."""
    if isinstance(config, TrainConfig):
        if avd:
            raise ConflictingSettings(("avd", "config"), "AVD networks belong to TPSMM models; the config is a FOMM's")
        return config
    saved_avd = saved is not None and not isinstance(saved, TrainConfig) and saved.avd
    wanted = avd or config.avd or saved_avd
    if wanted and saved is not None and not saved_avd:
        raise ConflictingSettings(("avd", "resume"), f"the run in {run_dir} trains a model, not its AVD network")
    return config.with_mode("train_avd") if wanted else config


def check(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """What can be known without the lock: ``run_dir`` is usable, and a live run in it is refused."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UnsafeOutput(run_dir, "it exists and is not a folder")
    if not run_dir.is_dir():
        return
    live = running_pid(run_dir)
    if live is not None:
        raise UnsafeOutput(run_dir, f"another `fomm train` (pid {live}) is training in it")
    if not resume and not overwrite and _used(run_dir):
        raise OutputExists(run_dir)


def _used(run_dir: Path) -> bool:
    return any(p.name != LOCK_NAME for p in run_dir.iterdir())


def running_pid(run_dir: Path) -> int | str | None:
    """The pid of the process holding ``run_dir``'s lock ("unknown" if it wrote none), or None if free."""
    path = run_dir / LOCK_NAME
    if not path.is_file():
        return None
    try:
        import fcntl
    except ImportError:  # not POSIX: no locks
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else "unknown"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def lock(run_dir: Path) -> IO[str]:
    """Create ``run_dir`` if needed and hold its exclusive lock for as long as the returned file stays open
    (the OS drops it when the process ends, even on SIGKILL), so two trainers never write into one run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_NAME, "a+")  # noqa: SIM115 (kept open on purpose)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        text = handle.read().strip()
        handle.close()
        raise UnsafeOutput(run_dir, f"another `fomm train` (pid {text or 'unknown'}) is training in it") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def prepare(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """With the lock held: refuse a used folder unless resuming, clear our entries with ``overwrite`` (other
    files are kept), and remove what a killed run left half-written."""
    if not resume and _used(run_dir):
        if not overwrite:
            raise OutputExists(run_dir)
        for name in RUN_ENTRIES:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    remove_partial(run_dir)


def remove_partial(run_dir: Path) -> None:
    """Delete temporary folders left by a run that was killed while saving."""
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.startswith(".") and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)


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
    write_bytes_atomic(log_path, "".join(f"{line}\n" for line in kept).encode())


def read_log(log_path: Path) -> list[dict[str, Any]]:
    """The records of ``log.jsonl`` (a line cut short by a kill is skipped)."""
    if not log_path.is_file():
        return []
    records = []
    for line in log_path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
