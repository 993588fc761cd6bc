"""Streaming video I/O through the ffmpeg binary bundled with imageio-ffmpeg.

Readers yield uint8 H x W x 3 RGB frames one at a time; writers take them one at a time, so memory does
not grow with video length. Outputs go to a temporary sibling that is renamed on success and removed on
error or interrupt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from fomm_cli.errors import FommError
from fomm_cli.fsutil import replace_path, temp_dir_beside
from fomm_cli.media import frame_files, is_image
from fomm_cli.media.image import read_image, resize, write_image

DEFAULT_FOLDER_FPS = 25.0


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video before decoding it. ``num_frames`` is an estimate (fps x duration)
    for files, exact for folders; None when the container does not say."""

    fps: float
    width: int
    height: int
    num_frames: int | None
    duration: float | None
    has_audio: bool


def probe(path: str | Path) -> VideoInfo:
    """Read a video's header (or list a frames folder)."""
    path = Path(path)
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise FommError(f"{path}: folder contains no image frames")
        first = read_image(files[0])
        n = len(files)
        return VideoInfo(DEFAULT_FOLDER_FPS, first.shape[1], first.shape[0], n, n / DEFAULT_FOLDER_FPS, False)
    if not path.is_file():
        raise FommError(f"video not found: {path}")
    meta, gen = _open_reader(path)
    gen.close()  # stops ffmpeg: only the header was needed
    fps = float(meta.get("fps") or DEFAULT_FOLDER_FPS)
    width, height = meta["size"]
    duration = meta.get("duration") or None
    frames = round(fps * duration) if duration else None
    return VideoInfo(fps, int(width), int(height), frames, duration, bool(meta.get("audio_codec")))


def _open_reader(path: Path) -> tuple[dict, Iterator[bytes]]:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as err:
        gen.close()
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "no video stream"
        raise FommError(f"cannot decode video {path}: {reason[:200]}") from None
    return meta, gen


def iter_frames(path: str | Path, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video file or frames folder as uint8 H x W x 3 RGB.

    ``size`` = (height, width) resizes each frame (plain resize; crop or pad beforehand to keep aspect).
    """
    path = Path(path)
    if path.is_dir():
        for file in frame_files(path):
            frame = read_image(file)
            yield resize(frame, size) if size else frame
        return
    if is_image(path):
        raise FommError(f"{path} is a still image, not a video")
    meta, gen = _open_reader(path)
    width, height = meta["size"]
    try:
        for raw in gen:
            frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            yield resize(frame, size) if size else frame
    except (OSError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "decoding failed"
        raise FommError(f"error while decoding {path}: {reason[:200]}") from None
    finally:
        gen.close()


def read_frames(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames at once, T x H x W x 3 (for short clips and tests; the pipeline streams)."""
    frames = list(iter_frames(path, size))
    if not frames:
        raise FommError(f"{path}: video has no frames")
    return np.stack(frames)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".mov", ".mkv", ".m4v"):
        return "h264"
    if suffix == ".gif":
        return "gif"
    if suffix == "" or path.is_dir():
        return "frames"
    raise FommError(f"unsupported output format {suffix!r}: use .mp4, .mov, .mkv, .gif or a folder for PNG frames")


class VideoWriter:
    """Write frames to ``.mp4``/``.mov``/``.mkv`` (H.264, yuv420p), ``.gif``, or a folder of PNG frames.

    ``audio_from``: copy the first audio stream of that file (from ``audio_start`` seconds, for
    ``audio_duration`` seconds) into an H.264 output, re-encoded as AAC and cut to the video's length.
    ``crf``: x264 quality, 18 is visually lossless. Use as a context manager: on an exception the partial
    output is removed and an existing file at ``path`` is left untouched.
    """

    def __init__(self, path: str | Path, fps: float, audio_from: str | Path | None = None,
                 audio_start: float = 0.0, audio_duration: float | None = None, overwrite: bool = False,
                 crf: int = 18) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.kind = _kind(self.path)
        if self.path.exists() and not overwrite:
            raise FommError(f"{self.path} exists (pass -y to overwrite)")
        if not self.path.parent.is_dir():
            raise FommError(f"output folder does not exist: {self.path.parent}")
        self.audio_from = Path(audio_from) if audio_from else None
        self.audio_start = audio_start
        self.audio_duration = audio_duration
        self.crf = crf
        self.frames_written = 0
        self._proc: subprocess.Popen | None = None
        self._log: tempfile._TemporaryFileWrapper | None = None
        self._size: tuple[int, int] | None = None
        if self.kind == "frames":
            self._tmp = temp_dir_beside(self.path)
        else:
            # A fresh name that ffmpeg creates itself, with the user's umask (mkstemp would make it 0600).
            self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}{self.path.suffix}")

    def _start(self, height: int, width: int) -> None:
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", f"{self.fps:.6g}", "-i", "-"]
        if self.kind == "gif":
            cmd += ["-filter_complex",
                    "[0:v]split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=4",
                    "-loop", "0", "-f", "gif"]
        else:
            if self.audio_from is not None:
                cmd += ["-ss", f"{self.audio_start:.3f}"]
                if self.audio_duration is not None:
                    cmd += ["-t", f"{self.audio_duration:.3f}"]
                cmd += ["-i", str(self.audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "160k",
                        "-shortest"]
            # yuv420p needs even dimensions: pad odd sizes by one pixel rather than fail.
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "medium",
                    "-crf", str(self.crf), "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
        cmd.append(str(self._tmp))
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the ffmpeg process
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 H x W x 3 RGB frame (all frames must have the same size)."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected uint8 H x W x 3 frames, got {frame.dtype} {frame.shape}")
        if self._size is None:
            self._size = frame.shape[:2]
            if self.kind != "frames":
                self._start(*self._size)
        elif frame.shape[:2] != self._size:
            raise ValueError(f"frame size changed from {self._size} to {frame.shape[:2]}")
        if self.kind == "frames":
            write_image(self._tmp / f"{self.frames_written:06d}.png", frame)
        else:
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            except BrokenPipeError:
                raise FommError(f"ffmpeg stopped while writing {self.path}: {self._ffmpeg_error()}") from None
        self.frames_written += 1

    def _ffmpeg_error(self) -> str:
        if self._proc is not None:
            self._proc.wait()
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else "unknown error"

    def close(self) -> Path:
        """Finish encoding and move the result into place."""
        if self.frames_written == 0:
            self.abort()
            raise FommError(f"no frames to write to {self.path}")
        if self.kind == "frames":
            replace_path(self._tmp, self.path)
        else:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.close()
            if self._proc.wait() != 0:
                message = self._ffmpeg_error()
                self.abort()
                raise FommError(f"ffmpeg failed to write {self.path}: {message}")
            replace_path(self._tmp, self.path)
            self._close_log()
        return self.path

    def abort(self) -> None:
        """Stop and delete the partial output."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_log()
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            self._tmp.unlink(missing_ok=True)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, **kwargs: object) -> Path:
    """Write an iterable of uint8 frames (see ``VideoWriter`` for options)."""
    with VideoWriter(path, fps, **kwargs) as writer:  # type: ignore[arg-type]
        for frame in frames:
            writer.write(frame)
    return writer.path
