"""Streaming video I/O through the ffmpeg binary bundled with imageio-ffmpeg (the functions most callers need).

Readers yield uint8 H x W x 3 RGB frames one at a time and writers take them one at a time, so memory
does not grow with video length. ``VideoSource`` (``fomm_cli.media.reader``) is the full reader: segments,
frame rate, stdin, warnings; ``VideoWriter`` (``fomm_cli.media.writer``) the writer; ``check_output``
(``fomm_cli.media.outputs``) the pre-flight check of an output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fomm_cli.errors import InputError
from fomm_cli.media.ffmpeg import ffmpeg_exe
from fomm_cli.media.reader import DEFAULT_FOLDER_FPS, STDIN, AudioTrack, VideoInfo, VideoSource
from fomm_cli.media.timing import TimePoint
from fomm_cli.media.writer import VideoWriter, write_video
from fomm_cli.reporting import Reporter

__all__ = ["DEFAULT_FOLDER_FPS", "AudioTrack", "VideoInfo", "VideoSource", "VideoWriter", "ffmpeg_exe",
           "iter_frames", "probe", "read_frames", "write_video"]

Time = str | float | TimePoint | None


def probe(path: str | Path, *, start: Time = None, end: Time = None, fps: str | float | None = None) -> VideoInfo:
    """Read a video's header (or list a frames folder): what ``iter_frames`` with the same settings yields.
    Not for stdin, which can be read once: use a ``VideoSource``."""
    if str(path) == STDIN:
        raise ValueError("probe cannot read standard input without consuming it: use VideoSource('-')")
    with VideoSource(path, start=start, end=end, fps=fps) as source:
        return source.info


def iter_frames(path: str | Path, size: tuple[int, int] | None = None, *, start: Time = None, end: Time = None,
                fps: str | float | None = None, reporter: Reporter | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video file, frames folder or "-" (stdin) as uint8 H x W x 3 RGB, at a constant
    rate (see ``VideoSource``). ``size`` = (height, width) resizes each frame (plain resize: crop or pad
    beforehand to keep the aspect). Warnings (decoding stopped early) go to ``reporter``."""
    with VideoSource(path, start=start, end=end, fps=fps, size=size, reporter=reporter) as source:
        yield from source.frames()


def read_frames(path: str | Path, size: tuple[int, int] | None = None, **settings: Any) -> np.ndarray:
    """All frames at once, T x H x W x 3 (for short clips and tests; the pipeline streams). ``settings``:
    the keyword arguments of ``iter_frames``."""
    frames = list(iter_frames(path, size, **settings))
    if not frames:
        raise InputError(path, "video has no frames")
    return np.stack(frames)
