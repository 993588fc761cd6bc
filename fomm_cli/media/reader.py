"""Reading a driving video: uint8 H x W x 3 RGB frames, one at a time, at a constant rate.

A video file is decoded by ffmpeg, which resamples it to one constant rate: the stream's average rate
(what ffmpeg reports as "fps"; its base-rate guess, then 25, when the container has none) or the
``fps`` setting. Frames are picked by their timestamps (ffmpeg's ``fps`` filter: duplicated or dropped
as a constant-rate resampler does), so a variable-frame-rate phone video keeps its duration and motion
timing, and the audio of the same time range stays in sync. Frame 0 is at the start of the file (or
of the segment); a video stream that starts later begins with copies of its first frame.

A segment (``start``/``end``, see ``fomm_cli.media.timing``) is read by seeking (ffmpeg's input-side
``-ss``, which seeks to a key frame and decodes only from there) where the container allows; from a
pipe the skipped part is decoded and dropped.

``-`` reads standard input: any stream ffmpeg can read (Matroska, MPEG-TS, NUT, y4m, ...), decoded
as it arrives. A caller that needs the frames twice (``rereadable``) or the audio track (``want_audio``)
gets stdin spooled to a temporary file that ``close`` removes (also on errors and on ``Interrupted``).

A frames folder is read in name order at the ``fps`` setting (default 25).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from fomm_cli.errors import InputError, InputNotFound, InvalidSetting
from fomm_cli.fsutil import remove_path
from fomm_cli.interrupts import deferred
from fomm_cli.media import frame_files, is_image
from fomm_cli.media.ffmpeg import FfmpegProcess, MediaHeader, describe, ffmpeg_exe, parse_header
from fomm_cli.media.image import read_image, resize
from fomm_cli.media.stdin import StdinStream
from fomm_cli.media.timing import TimePoint, check_segment, parse_fps, parse_time
from fomm_cli.reporting import Reporter

DEFAULT_FOLDER_FPS = 25.0
STDIN = "-"


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video (or its segment) before decoding it.

    ``fps``: the rate frames are delivered at (``fps_from``: "stream" its average rate, "setting" the
    ``fps`` asked for, "default" 25 for a folder or a stream that states no rate). ``num_frames``: an
    estimate (rate x duration) for videos, exact for folders, None when the length is unknown (pipes).
    ``duration``: seconds the frames span. ``start``: where they begin in the input, in seconds.
    ``stream_fps``: the video stream's own average rate, when it states one.
    """

    fps: float
    width: int
    height: int
    num_frames: int | None
    duration: float | None
    has_audio: bool
    start: float = 0.0
    fps_from: str = "stream"
    stream_fps: float | None = None


@dataclass(frozen=True)
class AudioTrack:
    """The audio that goes with the frames: ``path``'s first audio stream from ``start`` for ``duration``
    seconds (None: to the end). Pass these to ``VideoWriter(audio_from=, audio_start=, audio_duration=)``."""

    path: Path
    start: float
    duration: float | None


class VideoSource:
    """A video file, frames folder or ``-`` (stdin) to read frames from; use as a context manager.

    ``start``/``end``: a segment (``TimePoint``, seconds, or strings such as "12.5" or "120f").
    ``fps``: read at this rate instead of the stream's (frames picked by timestamp); a folder's rate.
    ``size``: (height, width) to resize every frame to (plain resize). ``rereadable``: ``frames()`` will be
    called more than once (stdin is then spooled). ``want_audio``: the caller will use ``audio`` (stdin
    with an audio stream is then spooled). ``reporter`` gets a warning when decoding stops early.
    ``what`` names the input in messages. Raises ``InputNotFound``, ``InputError`` (not a video, no video
    stream) and settings errors for bad ``start``/``end``/``fps``.
    """

    def __init__(self, path: str | Path, *, start: str | float | TimePoint | None = None,
                 end: str | float | TimePoint | None = None, fps: str | float | None = None,
                 size: tuple[int, int] | None = None, rereadable: bool = False, want_audio: bool = False,
                 reporter: Reporter | None = None, what: str = "driving video") -> None:
        self.path = Path(path)
        self.reporter = reporter or Reporter()
        self.size = size
        self.what = what
        self._start = parse_time(start, "start") if start is not None else None
        self._end = parse_time(end, "end") if end is not None else None
        self._fps = parse_fps(fps) if fps is not None else None
        check_segment(self._start, self._end, self._fps)
        self._processes: set[FfmpegProcess] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._stdin: StdinStream | None = None
        self._spool: Path | None = None
        self._folder: list[Path] | None = None
        self._file: Path | None = None  # what ffmpeg reads (the spool for stdin)
        self._rate, self._seek = DEFAULT_FOLDER_FPS, 0.0  # decoding: output rate, where to seek to,
        self._span: float | None = None  # how many seconds to read,
        self._cap: int | None = None  # and at most how many frames
        try:
            self.info = self._open(rereadable, want_audio)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------------------ opening

    def _open(self, rereadable: bool, want_audio: bool) -> VideoInfo:
        if str(self.path) == STDIN:
            self._stdin = StdinStream()
            header = self._header(self._stdin.probe(), STDIN)
            if rereadable or (want_audio and header.has_audio):
                with deferred():  # a signal waits until the copy is remembered, so close() removes it
                    self._spool = self._stdin.new_spool()
                self._stdin.spool(self._spool)
                self._stdin = None
                self._file = self._spool
                header = self._header(describe(self._spool), STDIN)
            return self._video_info(header)
        if not self.path.exists():
            raise InputNotFound(self.path, self.what)
        if self.path.is_dir():
            return self._folder_info()
        if is_image(self.path):
            raise InputError(self.path, "is a still image, not a video")
        self._file = self.path
        return self._video_info(self._header(describe(self.path), self.path))

    def _header(self, result: tuple[str, FfmpegProcess], name: str | Path) -> MediaHeader:
        text, process = result
        header = parse_header(text)
        if header is None:
            reason = next((e for e in process.log.errors if "output file" not in e), "no video stream")
            raise InputError(name, f"cannot decode it as a video: {reason}")
        return header

    def _video_info(self, header: MediaHeader) -> VideoInfo:
        if self._fps is not None:
            rate, origin = self._fps, "setting"
        elif (stream_rate := header.fps or header.tbr) is not None:
            rate, origin = float(stream_rate), "stream"
        else:
            rate, origin = DEFAULT_FOLDER_FPS, "default"
        check_segment(self._start, self._end, rate)
        start = self._start.to_seconds(rate) if self._start else 0.0
        end = self._end.to_seconds(rate) if self._end else None
        total = header.duration
        if total is not None and start >= total:
            raise InvalidSetting("start", str(self._start), f"before the end of the video ({total:.3f} s)")
        stop = end if total is None else (total if end is None else min(end, total))
        duration = stop - start if stop is not None else None
        frames = round(duration * rate) if duration is not None else None
        self._rate, self._seek = rate, start
        if end is not None:
            self._span = end - start
            self._cap = round(self._span * rate)  # exact for frame numbers: (e - s) / rate * rate
            frames = min(frames, self._cap) if frames is not None else self._cap
        return VideoInfo(rate, header.width, header.height, frames, duration, header.has_audio, start, origin,
                         header.fps)

    def _folder_info(self) -> VideoInfo:
        files = frame_files(self.path)
        if not files:
            raise InputError(self.path, "folder contains no image frames")
        rate = self._fps or DEFAULT_FOLDER_FPS
        check_segment(self._start, self._end, rate)
        first = self._start.to_frame(rate) if self._start else 0
        last = min(self._end.to_frame(rate), len(files)) if self._end else len(files)
        if first >= len(files):
            raise InvalidSetting("start", str(self._start), f"before the end of the frames ({len(files)} frames)")
        self._folder = files[first:last]
        height, width = read_image(self._folder[0]).shape[:2]
        n = len(self._folder)
        return VideoInfo(rate, width, height, n, n / rate, False, first / rate,
                         "setting" if self._fps else "default")

    @property
    def audio(self) -> AudioTrack | None:
        """The audio of the frames' time range, None without audio (or from stdin not opened ``want_audio``)."""
        if self._file is None or not self.info.has_audio:
            return None
        return AudioTrack(self._file, self.info.start, self.info.duration)

    # ------------------------------------------------------------------------------------------ reading

    def frames(self) -> Iterator[np.ndarray]:
        """Yield the frames, uint8 H x W x 3 RGB. A new pass each call (stdin streams allow one)."""
        if self._folder is not None:
            return self._folder_frames(self._folder)
        if self._stdin is not None:
            if self._stdin.used:
                raise RuntimeError("standard input can be read only once: open the VideoSource with rereadable=True")
            self._stdin.used = True
        return self._decode()

    __iter__ = frames

    def _folder_frames(self, files: list[Path]) -> Iterator[np.ndarray]:
        for file in files:
            frame = read_image(file)
            yield resize(frame, self.size) if self.size else frame

    def _command(self) -> list[str]:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"]
        if self._seek > 0:
            cmd += ["-ss", f"{self._seek:.6f}"]  # before -i: seek in the input instead of decoding up to it
        if self._span is not None:
            cmd += ["-t", f"{self._span:.6f}"]
        cmd += ["-i", "pipe:0" if self._stdin is not None else f"file:{self._file}", "-map", "0:v:0",
                "-vf", f"fps=fps={self._rate:.12g}:start_time=0", "-fps_mode", "passthrough"]
        if self._cap is not None:
            cmd += ["-frames:v", str(self._cap)]
        return [*cmd, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]

    def _decode(self) -> Iterator[np.ndarray]:
        stdin = subprocess.PIPE if self._stdin is not None else subprocess.DEVNULL
        with self._lock:
            if self._closed:
                return
            process = FfmpegProcess(self._command(), stdin=stdin, stdout=subprocess.PIPE)
            self._processes.add(process)
        count = 0
        try:
            if self._stdin is not None:
                assert process.proc.stdin is not None  # stdin=PIPE
                self._stdin.feed(process.proc.stdin)
            process.log.output_ready.wait()
            if process.log.output_size is not None:
                width, height = process.log.output_size
                nbytes = width * height * 3
                stdout = process.proc.stdout
                assert stdout is not None  # stdout=PIPE
                while True:
                    try:
                        data = stdout.read(nbytes)
                    except (OSError, ValueError):  # closed under us by close()
                        break
                    if len(data) < nbytes:
                        break
                    count += 1
                    frame = np.frombuffer(data, np.uint8).reshape(height, width, 3)
                    yield resize(frame, self.size) if self.size else frame
            code = process.wait()
            if not (self._closed or process.killed):
                self._check_end(process, code, count)
        finally:
            process.kill()
            with self._lock:
                self._processes.discard(process)

    def _check_end(self, process: FfmpegProcess, code: int, count: int) -> None:
        """Decoding ended: nothing at all is an error; an early stop or damaged frames a warning."""
        errors = process.log.errors
        reason = _stop_reason(errors) or process.reason()
        if count == 0:
            where = "in the requested segment" if self._seek > 0 or self._span is not None else ""
            raise InputError(self.path, f"no video frame could be decoded{' ' + where if where else ''}: {reason}")
        expected = self.info.num_frames
        short = expected is not None and count < expected - max(2, round(0.02 * expected))
        if code != 0 or (errors and (short or expected is None)):
            about = f" of about {expected}" if expected is not None else ""
            self.reporter.warn(f"{self.path.name or STDIN}: decoding stopped at frame {count}{about} "
                               f"(the input is truncated or damaged): {reason}")
        elif errors:
            self.reporter.warn(f"{self.path.name or STDIN}: {process.log.error_count} decoding errors, some frames "
                               f"may be damaged: {errors[0]}")

    # ------------------------------------------------------------------------------------------ closing

    def close(self) -> None:
        """Stop every ffmpeg this source started and remove the stdin spool. Safe to call twice."""
        with self._lock:
            self._closed = True
            processes = list(self._processes)
        for process in processes:
            process.kill()
        if self._spool is not None:
            remove_path(self._spool)
            self._spool = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _stop_reason(errors: list[str]) -> str | None:
    """The most telling of ffmpeg's errors about an input that ended early."""
    for message in errors:
        lowered = message.lower()
        if "partial file" in lowered or "prematurely" in lowered or "truncat" in lowered:
            return message.split(": ")[-1] if "offset" in lowered else message
    return None
