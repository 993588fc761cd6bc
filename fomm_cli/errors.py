"""Errors a user (or a library caller) can fix, carrying the data that explains them.

``str(err)`` is one complete sentence in library terms: setting names as the options dataclasses spell
them (``precision``), paths, model names; never a command-line flag. The command line
(``fomm_cli.cli.errors``) renders each type with the flags that fix it and picks the exit code, so a
library caller gets an exception that makes sense without a command line.

Everything that is not a ``FommError`` is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def shorten(text: str, limit: int = 240) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis when longer than ``limit``."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"


def one_of(names: Sequence[str]) -> str:
    """"a, b or c": the accepted values of a setting, for ``InvalidSetting``'s ``expected``."""
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def last_line(text: str, fallback: str = "unknown error") -> str:
    """The last non-empty line of a tool's error output (ffmpeg, torch), shortened."""
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return shorten(lines[-1]) if lines else fallback


class FommError(Exception):
    """Base class: a problem with the inputs, the settings or the environment, not a bug."""


# ------------------------------------------------------------------------------------------- settings


class SettingsError(FommError, ValueError):
    """The settings themselves are wrong (the command line's usage errors, exit code 2)."""


class InvalidSetting(SettingsError):
    """``setting`` has a value it does not accept; ``expected`` says what it accepts ("fp32, bf16 or fp16")."""

    def __init__(self, setting: str, value: object, expected: str) -> None:
        self.setting, self.value, self.expected = setting, value, expected
        super().__init__(f"{setting} must be {expected}, not {_show(value)}")


class ConflictingSettings(SettingsError):
    """``settings`` cannot be used together (``reason`` says why, or what to do instead)."""

    def __init__(self, settings: Sequence[str], reason: str) -> None:
        self.settings, self.reason = tuple(settings), reason
        super().__init__(f"{' and '.join(self.settings)}: {reason}")


class MissingSetting(SettingsError):
    """``setting`` is required here (``reason`` says why)."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting, self.reason = setting, reason
        super().__init__(f"{setting} is required: {reason}")


# -------------------------------------------------------------------------------------- inputs, outputs


class InputNotFound(FommError, FileNotFoundError):
    """An input file or folder (``what``: "source image", "driving video", ...) does not exist."""

    def __init__(self, path: str | Path, what: str = "input") -> None:
        self.path, self.what = Path(path), what
        super().__init__(f"{what} not found: {path}")


class InputError(FommError):
    """An input exists but cannot be used (``reason``: not an image, cannot be decoded, ...)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


class OutputExists(FommError, FileExistsError):
    """The output is already there and replacing it was not asked for (or it appeared during the run)."""

    def __init__(self, path: str | Path, during_run: bool = False) -> None:
        self.path, self.during_run = Path(path), during_run
        detail = "appeared while this run was writing it (another run?); the new result was not kept" \
            if during_run else "exists"
        super().__init__(f"{path} {detail}")


class UnsafeOutput(FommError):
    """Writing the output would destroy something that is not a previous result (an input, a device
    node, a folder with other files); ``reason`` says what."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"refusing to write {path}: {reason}")


class OutputError(FommError):
    """The file system refused the output (permission, no space, name too long, folder gone)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot write {path}: {reason}")

    @classmethod
    def from_os_error(cls, path: str | Path, err: OSError) -> OutputError:
        return cls(path, (err.strerror or type(err).__name__).lower())


# ----------------------------------------------------------------------------------- models, devices


class UnknownModel(FommError, LookupError):
    """``name`` is not in the model registry."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name, self.known = name, tuple(known)
        super().__init__(f"unknown model {name!r} (known: {', '.join(self.known)})")


class ModelUnavailable(FommError):
    """A registered model's weights are not on this machine and cannot be fetched now. ``how_to_get`` says
    where to put the file by hand; ``downloadable``: a hub copy exists (a download while online works);
    ``is_default``: the model was picked because none was named."""

    def __init__(self, name: str, reason: str, how_to_get: str, *, downloadable: bool = False,
                 is_default: bool = False) -> None:
        self.name, self.reason, self.how_to_get = name, reason, how_to_get
        self.downloadable, self.is_default = downloadable, is_default
        super().__init__(f"{name}: {reason}; {how_to_get}")


class CheckpointError(FommError):
    """A checkpoint file or folder cannot be used: ``problem`` names it, ``key`` the tensor or entry."""

    def __init__(self, path: str | Path, problem: str, key: str | None = None) -> None:
        self.path, self.problem, self.key = Path(path), problem, key
        where = f" ({key})" if key else ""
        super().__init__(f"{path}: {problem}{where}")


class UntrustedCheckpoint(CheckpointError):
    """A valid pickle that needs more than tensors to load; loading it means running its code."""

    def __init__(self, path: str | Path, detail: str) -> None:
        super().__init__(path, f"contains objects other than tensors ({detail})")


class DeviceUnavailable(FommError):
    """The requested compute device (``name``: "cuda", "mps", ...) is not available here."""

    def __init__(self, name: str, reason: str = "not available on this machine") -> None:
        self.name, self.reason = name, reason
        super().__init__(f"device {name}: {reason}")


class MissingDependency(FommError, ImportError):
    """An optional package is needed for this (``install`` is the command that adds it)."""

    def __init__(self, feature: str, install: str) -> None:
        self.feature, self.install = feature, install
        super().__init__(f"{feature} needs packages that are not installed: {install}")


# -------------------------------------------------------------------------------------------- content


class NoFaceFound(FommError):
    """No usable face where one is needed (``where``: "the source image", "the driving video", ...)."""

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"no face found in {where}")


# ---------------------------------------------------------------------------------------------- stops


class Interrupted(BaseException):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP). A BaseException, like KeyboardInterrupt,
    so that ``except Exception`` blocks do not swallow it; cleanup code in ``finally`` still runs."""

    def __init__(self, signal_number: int) -> None:
        import signal

        self.signal_number = signal_number
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)
