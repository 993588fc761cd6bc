"""Writing frames: H.264 video (mp4, mov, mkv), GIF, y4m raw frames or a folder of PNG frames; to a file,
a folder, standard output ("-"), or an existing FIFO or character device.

Frames go in one at a time and memory stays flat whatever the length, GIF included: its frames are
first stored losslessly (FFV1) beside the output while the palette is computed, then encoded in a
second pass. Files are built under a temporary name beside the output (carrying our pid, see
``fomm_cli.fsutil``) and moved into place by ``close``; without ``overwrite`` that move never replaces
something that appeared meanwhile. A replaced frames folder keeps its identity (it may be the current
folder): its old frames are swapped for the new ones in place. On any exception, ``Interrupted``
included, ffmpeg is killed and the temporary output removed (use the writer as a context manager, or
call ``abort``).

Errors: ``OutputError`` (the file system refused: permission, no space, name too long, folder gone),
``OutputExists(during_run=True)`` (lost a race), ``UnsafeOutput``, settings errors from
``check_output``. A pipe closed by its reader (``-o - | head``) raises ``BrokenPipeError``, which a
command line turns into a quiet exit.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import numpy as np

from fomm_cli.errors import InvalidSetting, OutputError, OutputExists, UnsafeOutput
from fomm_cli.fsutil import (
    create_temp_dir,
    create_temp_file,
    is_regular_or_absent,
    move_noreplace,
    remove_leftovers,
    remove_path,
)
from fomm_cli.interrupts import deferred
from fomm_cli.media.ffmpeg import FfmpegProcess, ffmpeg_exe
from fomm_cli.media.image import write_image
from fomm_cli.media.outputs import FRAME_NAME, FRAMES_MARKER, check_output, frames_folder_problem
from fomm_cli.media.timing import parse_fps

AUDIO_FORMATS = ("mp4", "mov", "mkv")
_GIF_FILTER = "paletteuse=dither=bayer:bayer_scale=4"


class VideoWriter:
    """Write uint8 H x W x 3 RGB frames to ``path`` (see the module doc for targets and guarantees).

    ``path``: a file (format from the extension), a folder path for PNG frames, or "-" for stdout.
    ``fps``: frames per second. ``audio_from``: take the first audio stream of that file from
    ``audio_start`` seconds for ``audio_duration`` (None: to its end; pass the video's duration, e.g.
    ``VideoSource.audio``), AAC-encoded (mp4, mov, mkv only; ``has_audio`` says whether it is used). The
    video is never cut to the audio. ``crf``: x264 quality,
    0-51, 18 is visually lossless. ``format``: one of ``fomm_cli.media.outputs.FORMATS`` ("mkv" for stdout
    unless given). ``inputs``: the files the run reads, which the output may not replace. The output is
    checked when the writer is created (``check_output``).
    """

    def __init__(self, path: str | Path, fps: float, audio_from: str | Path | None = None,
                 audio_start: float = 0.0, audio_duration: float | None = None, overwrite: bool = False,
                 crf: int = 18, *, format: str | None = None, inputs: Iterable[str | Path | None] = ()) -> None:
        self.fps = parse_fps(fps)
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
            raise InvalidSetting("crf", crf, "an integer from 0 to 51")
        self.target = check_output(path, format, overwrite, [*inputs, audio_from])
        self.path = self.target.path
        self.format = self.target.format
        self.overwrite = overwrite
        self.crf = crf
        self.has_audio = audio_from is not None and self.format in AUDIO_FORMATS
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.audio_start = float(audio_start)
        self.audio_duration = audio_duration
        self.frames_written = 0
        self._size: tuple[int, int] | None = None
        self._encoder: FfmpegProcess | None = None
        self._second_pass: FfmpegProcess | None = None
        self._tmp: Path | None = None  # the file or folder being written (None: written in place)
        self._scratch: Path | None = None  # GIF: lossless frames and palette
        try:
            with deferred():  # a signal waits until the temporary output is created and remembered
                self._prepare()
        except OSError as err:
            self.abort()
            raise OutputError.from_os_error(self.path, err) from None
        except BaseException:
            self.abort()
            raise

    def _prepare(self) -> None:
        target = self.target
        if target.kind == "file":
            remove_leftovers(target.dest.parent)
            self._tmp = create_temp_file(target.dest)
        elif target.kind == "folder" and target.replaces:
            remove_leftovers(target.dest)
            self._tmp = create_temp_dir(target.dest / target.dest.name)  # inside: same file system, no parent needed
        elif target.kind == "folder":
            remove_leftovers(target.dest.parent)
            self._tmp = create_temp_dir(target.dest)
        if self.format == "gif":
            beside = target.kind == "file"
            folder = target.dest.parent if beside else Path(tempfile.gettempdir())
            if not beside:
                remove_leftovers(folder)
            self._scratch = create_temp_dir(folder / (target.dest.name if beside else "gif"), "scratch")

    # ------------------------------------------------------------------------------------------ writing

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 H x W x 3 RGB frame (all frames the same size)."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected uint8 H x W x 3 frames, got {frame.dtype} {frame.shape}")
        if self._size is None:
            self._size = frame.shape[:2]
            if self.format != "frames":
                try:
                    self._start(*self._size)
                except BaseException:
                    self.abort()
                    raise
        elif frame.shape[:2] != self._size:
            raise ValueError(f"frame size changed from {self._size} to {frame.shape[:2]}")
        if self.format == "frames":
            assert self._tmp is not None
            try:
                write_image(self._tmp / f"{self.frames_written:06d}.png", frame)
            except OSError as err:
                self.abort()
                raise _fs_error(self.path, err) from None
        else:
            assert self._encoder is not None and self._encoder.proc.stdin is not None
            try:
                self._encoder.proc.stdin.write(np.ascontiguousarray(frame).data)
            except OSError:  # ffmpeg is gone: its log says why
                self._fail(self._encoder)
        self.frames_written += 1

    def _start(self, height: int, width: int) -> None:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{self.fps:.12g}",
               "-i", "pipe:0"]
        if self.format == "gif":
            assert self._scratch is not None
            cmd += ["-filter_complex", "[0:v]split[a][b];[b]palettegen=stats_mode=diff[p]",
                    "-map", "[a]", "-c:v", "ffv1", "-f", "matroska", f"file:{self._scratch / 'frames.mkv'}",
                    "-map", "[p]", "-frames:v", "1", "-update", "1", "-f", "image2",
                    f"file:{self._scratch / 'palette.png'}"]
            self._encoder = FfmpegProcess(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
            return
        if self.has_audio:
            assert self.audio_from is not None
            cmd += ["-ss", f"{self.audio_start:.6f}"]
            if self.audio_duration is not None:
                cmd += ["-t", f"{self.audio_duration:.6f}"]
            # No -shortest: it would cut the video when the audio is shorter (and with apad it overshoots by a
            # varying amount); the audio is cut by its duration instead, a shorter one leaves the end silent.
            cmd += ["-i", f"file:{self.audio_from}", "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "160k"]
        if self.format == "y4m":
            cmd += ["-pix_fmt", "yuv444p"]
        else:
            # yuv420p needs even dimensions: pad odd sizes by one pixel rather than fail.
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "medium",
                    "-crf", str(self.crf), "-pix_fmt", "yuv420p"]
        cmd += self._container_args()
        stdout = None if self.target.kind == "stdout" else subprocess.DEVNULL
        self._encoder = FfmpegProcess([*cmd, self._destination()], stdin=subprocess.PIPE, stdout=stdout)

    def _container_args(self) -> list[str]:
        if self.format in ("mp4", "mov"):
            flags = "frag_keyframe+empty_moov+default_base_moof" if self.target.streaming else "+faststart"
            return ["-movflags", flags, "-f", self.format]
        return ["-f", {"mkv": "matroska", "y4m": "yuv4mpegpipe", "gif": "gif"}[self.format]]

    def _destination(self) -> str:
        if self.target.kind == "stdout":
            return "pipe:1"
        return f"file:{self._tmp if self._tmp is not None else self.target.dest}"

    # ------------------------------------------------------------------------------------------ finishing

    def close(self) -> Path:
        """Finish encoding and move the result into place; returns ``path``."""
        try:
            if self.frames_written == 0:
                raise OutputError(self.path, "no frames were written")
            if self.format == "frames":
                assert self._tmp is not None
                try:
                    (self._tmp / FRAMES_MARKER).write_text(json.dumps({"written_by": "fomm",
                                                                       "frames": self.frames_written}) + "\n")
                except OSError as err:
                    raise OutputError.from_os_error(self.path, err) from None
                self._place_folder(self._tmp)
            else:
                self._finish(self._encoder)
                if self.format == "gif":
                    self._gif_second_pass()
                if self._tmp is not None:
                    self._place_file(self._tmp)
            self._tmp = None
        except BaseException:
            self.abort()
            raise
        finally:
            if self._scratch is not None:
                remove_path(self._scratch)
                self._scratch = None
        return self.path

    def _finish(self, process: FfmpegProcess | None) -> None:
        assert process is not None and process.proc.stdin is not None
        with contextlib.suppress(OSError):  # ffmpeg already gone: its status says why
            process.proc.stdin.close()
        if process.wait() != 0:
            self._fail(process)

    def _gif_second_pass(self) -> None:
        assert self._scratch is not None
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+error", "-y",
               "-i", f"file:{self._scratch / 'frames.mkv'}", "-i", f"file:{self._scratch / 'palette.png'}",
               "-lavfi", f"[0:v][1:v]{_GIF_FILTER}", "-loop", "0", "-f", "gif", self._destination()]
        stdout = None if self.target.kind == "stdout" else subprocess.DEVNULL
        self._second_pass = FfmpegProcess(cmd, stdin=subprocess.DEVNULL, stdout=stdout)
        if self._second_pass.wait() != 0:
            self._fail(self._second_pass)

    def _fail(self, process: FfmpegProcess) -> NoReturn:
        process.wait()
        self.abort()
        if self.target.streaming and process.broken_pipe():
            where = "standard output" if self.target.kind == "stdout" else str(self.path)
            raise BrokenPipeError(errno.EPIPE, f"{where} was closed by its reader")
        if self.target.kind == "file" and not self.target.dest.parent.is_dir():
            raise OutputError(self.path, "its folder was removed during the run")
        raise OutputError(self.path, process.reason())

    def _place_file(self, tmp: Path) -> None:
        dest = self.target.dest
        try:
            if self.overwrite:
                if not is_regular_or_absent(dest):
                    raise UnsafeOutput(self.path, "something other than a file appeared there during the run")
                os.replace(tmp, dest)
            else:
                move_noreplace(tmp, dest)
        except FileExistsError:
            raise OutputExists(self.path, during_run=True) from None
        except OSError as err:
            raise _fs_error(self.path, err) from None

    def _place_folder(self, tmp: Path) -> None:
        dest = self.target.dest
        try:
            if not self.target.replaces:
                try:
                    move_noreplace(tmp, dest)
                    return
                except FileExistsError:
                    if not (self.overwrite and dest.is_dir()):
                        raise OutputExists(self.path, during_run=True) from None
            problem = frames_folder_problem(dest)
            if problem is not None:
                raise UnsafeOutput(self.path, problem)
            # In place, so that the folder (perhaps the current one) stays; the marker is replaced last
            # and never missing, so an interrupted swap still leaves a folder recognised as ours.
            for name in os.listdir(dest):
                if FRAME_NAME.match(name):
                    os.unlink(dest / name)
            for name in sorted(os.listdir(tmp)):
                if name != FRAMES_MARKER:
                    os.rename(tmp / name, dest / name)
            os.replace(tmp / FRAMES_MARKER, dest / FRAMES_MARKER)
            os.rmdir(tmp)
        except OutputExists:
            raise
        except OSError as err:
            raise _fs_error(self.path, err) from None

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial output (safe to call at any time, repeatedly)."""
        for process in (self._encoder, self._second_pass):
            if process is not None:
                process.kill()
        for path in (self._tmp, self._scratch):
            if path is not None:
                remove_path(path)
        self._tmp = self._scratch = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _fs_error(path: Path, err: OSError) -> OutputError:
    if err.errno == errno.ENOENT:
        return OutputError(path, "its folder was removed during the run")
    return OutputError.from_os_error(path, err)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, **kwargs: Any) -> Path:
    """Write an iterable of uint8 frames (see ``VideoWriter`` for the options)."""
    with VideoWriter(path, fps, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.path
