"""The ffmpeg binary bundled with imageio-ffmpeg: running it and reading what it prints.

Every process runs in its own session, so a Ctrl-C or SIGHUP meant for ``fomm`` reaches only Python,
which then stops ffmpeg itself (readers and writers kill their process on any exception, including
``fomm_cli.errors.Interrupted``). Its log is read by a thread (no pipe can fill up) with each line's
level (``-loglevel level+...``), so errors can be told from information.
"""

from __future__ import annotations

import collections
import contextlib
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fomm_cli.errors import last_line, shorten


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaHeader:
    """What ffmpeg says about an input before decoding it (``ffmpeg -i``).

    ``fps``: the video stream's average rate ("fps" in ffmpeg's stream line), ``tbr``: its guess of the
    base rate; either may be None. ``width``/``height``: as decoded, after the rotation a phone records
    as side data. ``duration``: the container's, None when it does not say (pipes).
    """

    width: int
    height: int
    fps: float | None
    tbr: float | None
    duration: float | None
    has_audio: bool


_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\] )?(\[(?P<level>[a-z]+)\] )?")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_SIZE = re.compile(r", (\d{1,5})x(\d{1,5})(?=[ ,\[]|$)")
_RATE = re.compile(r"([\d.]+)(k?) (fps|tbr)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
ERROR_LEVELS = ("error", "fatal", "panic")
_FS_REASONS = ("No space left on device", "Disk quota exceeded", "File too large", "Read-only file system",
               "Permission denied", "File name too long", "No such file or directory", "Input/output error",
               "Broken pipe")


def split_level(line: str) -> tuple[str | None, str]:
    """A log line's level (with ``-loglevel level+...``) and its message without the ``[ctx @ 0x..]`` tag."""
    match = _PREFIX.match(line)
    if match is None:
        return None, line
    return match["level"], line[match.end():]


def parse_header(text: str) -> MediaHeader | None:
    """The first input's video stream as ``ffmpeg -i`` describes it; None when it has no video stream."""
    lines = [split_level(line)[1] for line in text.splitlines()]
    try:
        end = next(i for i, line in enumerate(lines) if line.startswith(("Output #", "Stream mapping")))
    except StopIteration:
        end = len(lines)
    lines = lines[:end]
    duration = None
    for line in lines:
        match = _DURATION.search(line)
        if match:
            h, m, s = match.groups()
            duration = int(h) * 3600 + int(m) * 60 + float(s)
            break
    streams = [i for i, line in enumerate(lines) if line.lstrip().startswith("Stream #")]
    video = next((i for i in streams if ": Video: " in lines[i]), None)
    if video is None:
        return None
    line = lines[video]
    size = _SIZE.search(line)
    if size is None:
        return None
    width, height = int(size[1]), int(size[2])
    rates = {kind: float(value) * (1000 if k else 1) for value, k, kind in _RATE.findall(line)}
    following = next((i for i in streams if i > video), len(lines))
    for extra in lines[video + 1:following]:
        rotation = _ROTATION.search(extra)
        if rotation and round(float(rotation[1])) % 180 == 90:
            width, height = height, width  # ffmpeg turns the frames upright when it decodes them
    return MediaHeader(
        width=width, height=height, fps=rates.get("fps") or None, tbr=rates.get("tbr") or None,
        duration=duration or None, has_audio=any(": Audio: " in lines[i] for i in streams),
    )


class FfmpegProcess:
    """One running ffmpeg; ``log`` collects its stderr. ``kill`` is safe to call at any time, repeatedly."""

    def __init__(self, args: list[str], stdin: int | IO[bytes] | None = None,
                 stdout: int | IO[bytes] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                     start_new_session=True)
        assert self.proc.stderr is not None  # stderr=PIPE
        self.log = LogReader(self.proc.stderr)
        self.killed = False

    def wait(self) -> int:
        code = self.proc.wait()
        self.log.join()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.killed = True
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe whose reader is gone: nothing to flush to anyway
                    stream.close()
        self.log.join()

    def broken_pipe(self) -> bool:
        """ffmpeg stopped because what it wrote to was closed (a pipe's reader went away)."""
        return self.proc.returncode == -signal.SIGPIPE or any("Broken pipe" in m for m in self.log.errors)

    def reason(self) -> str:
        """Why it failed, in a few words: a file-system error when it names one, else its last error."""
        for message in reversed(self.log.errors):
            for known in _FS_REASONS:
                if known in message:
                    return known.lower()
        code = self.proc.returncode
        if code is not None and code < 0:
            if -code == getattr(signal, "SIGXFSZ", 0):
                return "file too large"
            return f"ffmpeg was stopped by {signal.Signals(-code).name}"
        if self.log.errors:
            return shorten(self.log.errors[-1])
        return last_line("\n".join(self.log.tail), f"ffmpeg exited with status {code}")


class LogReader(threading.Thread):
    """Reads an ffmpeg log line by line: the head (everything up to the first output stream, which says the
    size of the frames it writes), the last lines, and every error (the first and last few)."""

    HEAD_LINES = 400
    TAIL_LINES = 40

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.head: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=self.TAIL_LINES)
        self.errors: list[str] = []
        self.error_count = 0
        self.output_size: tuple[int, int] | None = None
        self.output_ready = threading.Event()
        self._in_output = False
        self.start()

    def run(self) -> None:
        try:
            for raw in self.stream:
                self._take(raw.decode(errors="replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            self.output_ready.set()
            self.stream.close()

    def _take(self, line: str) -> None:
        level, message = split_level(line)
        if not message.strip():
            return
        if self.output_size is None and len(self.head) < self.HEAD_LINES:
            self.head.append(line)
            if message.startswith("Output #"):
                self._in_output = True
            elif self._in_output and message.lstrip().startswith("Stream #") and ": Video: " in message:
                size = _SIZE.search(message)
                if size:
                    self.output_size = (int(size[1]), int(size[2]))
                    self.output_ready.set()
        self.tail.append(message)
        if level in ERROR_LEVELS:
            self.error_count += 1
            if len(self.errors) < 8:
                self.errors.append(message.strip())
            else:
                self.errors[-1] = message.strip()

    def text(self) -> str:
        return "\n".join(self.head)


def describe(path: Path) -> tuple[str, FfmpegProcess]:
    """``ffmpeg -i path`` (no output): the header it prints (for ``parse_header``), and the finished process."""
    process = FfmpegProcess([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-i", f"file:{path}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    process.wait()
    return process.log.text(), process
