"""Where a video goes, decided before any work starts: format, kind of target, and whether writing is safe.

``check_output`` is the pre-flight check a job runs before loading a model (no torch, no numpy, no
ffmpeg): unknown extension, missing or read-only folder, existing output, unsafe output, output that is
an input. ``VideoWriter`` runs it again when it opens, so a library caller gets the same guarantees.

What may be replaced (with ``overwrite``): a regular file, or a folder that holds nothing but frames
``fomm`` wrote (marked by ``FRAMES_MARKER``) or nothing at all. A FIFO or character device (a sink such
as ``/dev/null``) is written to directly, like a pipe, and survives; a block device, socket or any other
special file is refused. An output that is the same file as an input is refused whatever ``overwrite``
says.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fomm_cli.errors import ConflictingSettings, InvalidSetting, OutputError, OutputExists, UnsafeOutput
from fomm_cli.fsutil import create_temp_file, name_max, temp_owner

FORMATS = ("mp4", "mov", "mkv", "gif", "y4m", "frames")
STREAM_FORMATS = ("mkv", "mp4", "mov", "y4m", "gif")  # what can go to a pipe (mp4/mov fragmented)
DEFAULT_STREAM_FORMAT = "mkv"
SUFFIX_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "mkv", ".gif": "gif", ".y4m": "y4m"}
FRAMES_MARKER = ".fomm-frames"
FRAME_NAME = re.compile(r"^\d{6,}\.png$")
STDOUT = "-"

_OUTPUT_EXPECTED = ".mp4, .mov, .mkv, .gif, .y4m, a folder (no extension) for PNG frames, or - for standard output"


@dataclass(frozen=True)
class OutputTarget:
    """A checked output.

    ``kind``: "stdout"; "stream" (an existing FIFO or character device, written to directly); "file"; or
    "folder" (PNG frames). ``dest``: where the result lands: ``path`` itself, or the file a symlink points
    to (the link stays). ``replaces``: something is there now that the result will replace.
    """

    path: Path
    format: str
    kind: str
    dest: Path
    replaces: bool = False

    @property
    def streaming(self) -> bool:
        """Written front to back without seeking (stdout, FIFO, device): mp4 must be fragmented."""
        return self.kind in ("stdout", "stream")


def output_format(path: str | Path, format: str | None = None) -> str:
    """The format an output path asks for (``format`` wins). Raises ``InvalidSetting``/``ConflictingSettings`` for a
    bad ``format`` and ``OutputError`` for an extension that is no known format."""
    if format is not None and format not in FORMATS:
        raise InvalidSetting("format", format, "one of " + ", ".join(FORMATS))
    if str(path) == STDOUT:
        return format or DEFAULT_STREAM_FORMAT
    suffix = Path(path).suffix.lower()
    implied = SUFFIX_FORMATS.get(suffix)
    if format is not None:
        if implied is not None and implied != format:
            raise ConflictingSettings(("output", "format"), f"{Path(path).name} is a {suffix} file, not {format}")
        return format
    if implied is not None:
        return implied
    if suffix == "" or Path(path).is_dir():
        return "frames"
    raise OutputError(path, f"unknown output format {suffix!r}: use {_OUTPUT_EXPECTED}")


def check_output(path: str | Path, format: str | None = None, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = ()) -> OutputTarget:
    """Decide where and how ``path`` is written, or raise why it cannot be.

    ``path``: a file, a folder for PNG frames, or "-" for standard output. ``format``: one of ``FORMATS``
    (default: from the extension; "mkv" for stdout, FIFOs and devices). ``inputs``: the files the run
    reads ("-" and None are skipped); the output may not be one of them, nor a folder containing one.

    Raises ``InvalidSetting``/``ConflictingSettings`` (format), ``OutputError`` (unknown extension), ``OutputExists``,
    ``UnsafeOutput`` and ``OutputError`` (missing or read-only folder, name too long). Touches nothing
    except a probe file that it creates and removes in the output's folder.
    """
    read = [Path(p) for p in inputs if p is not None and str(p) != STDOUT]
    if str(path) == STDOUT:
        fmt = output_format(path, format)
        _check_streamable(fmt, "writing to standard output")
        if os.isatty(1):
            raise UnsafeOutput(STDOUT, "standard output is a terminal; redirect it to a file or a pipe")
        stdout = os.fstat(1)
        for item in read:
            if item.exists() and os.path.samestat(stdout, os.stat(item)):
                raise UnsafeOutput(STDOUT, f"standard output is the input {item}")
        return OutputTarget(Path(STDOUT), fmt, "stdout", Path(STDOUT))

    path = Path(path)
    try:
        st: os.stat_result | None = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as err:
        raise OutputError.from_os_error(path, err) from None
    if st is not None:
        _check_not_input(path, read)
        if stat.S_ISDIR(st.st_mode):
            return _existing_folder(path, format, overwrite, read)
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            fmt = format or SUFFIX_FORMATS.get(path.suffix.lower(), DEFAULT_STREAM_FORMAT)
            output_format(STDOUT, fmt)  # validates the name
            _check_streamable(fmt, "writing to a pipe or device")
            return OutputTarget(path, fmt, "stream", path)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeOutput(path, f"it is a {_special_kind(st.st_mode)}, not a file or folder")
        fmt = output_format(path, format)
        if fmt == "frames":
            raise UnsafeOutput(path, "it is a file, and frames are written to a folder")
        if not overwrite:
            raise OutputExists(path)
        dest = Path(os.path.realpath(path)) if path.is_symlink() else path
        _check_writable(path, dest.parent)
        return OutputTarget(path, fmt, "file", dest, replaces=True)

    fmt = output_format(path, format)
    if path.is_symlink() and not overwrite:  # dangling: the link itself is what would be replaced
        raise OutputExists(path)
    parent = path.parent
    if not parent.is_dir():
        reason = f"{parent} is not a folder" if parent.exists() else "the folder does not exist"
        raise OutputError(path, reason)
    if len(os.fsencode(path.name)) > name_max(parent):
        raise OutputError(path, "file name too long")
    _check_writable(path, parent)
    return OutputTarget(path, fmt, "folder" if fmt == "frames" else "file", path, replaces=path.is_symlink())


def frames_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` may not be replaced by new frames, or None when it holds only frames ``fomm`` wrote
    (with the marker), our own temporary entries, or nothing at all."""
    try:
        names = os.listdir(folder)
    except OSError as err:
        return (err.strerror or "cannot be listed").lower()
    names = [n for n in names if temp_owner(n) is None]
    if not names:
        return None
    if FRAMES_MARKER not in names:
        return "it is a folder that fomm did not write (files in it would be lost)"
    others = sorted(n for n in names if n != FRAMES_MARKER and not (FRAME_NAME.match(n) and (folder / n).is_file()))
    if others:
        return f"the folder holds files fomm did not write ({others[0]}{', ...' if len(others) > 1 else ''})"
    return None


def _existing_folder(path: Path, format: str | None, overwrite: bool, inputs: list[Path]) -> OutputTarget:
    if format not in (None, "frames") or path.suffix.lower() in SUFFIX_FORMATS:
        raise UnsafeOutput(path, "it is a folder")
    dest = Path(os.path.realpath(path))
    for item in inputs:
        if item.exists() and Path(os.path.realpath(item)).is_relative_to(dest):
            raise UnsafeOutput(path, f"it contains the input {item}")
    problem = frames_folder_problem(dest)
    if problem is not None:
        raise UnsafeOutput(path, problem)
    if not overwrite:
        raise OutputExists(path)
    _check_writable(path, dest)
    return OutputTarget(path, "frames", "folder", dest, replaces=True)


def _check_not_input(path: Path, inputs: list[Path]) -> None:
    for item in inputs:
        try:
            same = os.path.samefile(path, item)
        except OSError:
            continue
        if same:
            raise UnsafeOutput(path, f"it is one of the inputs ({item})")


def _check_streamable(fmt: str, where: str) -> None:
    if fmt not in STREAM_FORMATS:
        raise InvalidSetting("format", fmt, f"one of {', '.join(STREAM_FORMATS)} when {where}")


def _check_writable(path: Path, folder: Path) -> None:
    """Create and remove a probe file: the only reliable test (root ignores modes, /proc refuses anyway)."""
    try:
        os.unlink(create_temp_file(folder / path.name, "probe"))
    except OSError as err:
        if err.errno == errno.ENOENT and folder.is_dir():  # ENOENT in an existing folder: /proc, /sys and the like
            raise OutputError(path, f"{folder} does not accept new files") from None
        raise OutputError.from_os_error(path, err) from None


def _special_kind(mode: int) -> str:
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
