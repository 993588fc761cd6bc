"""The face side of ``fomm crop``: find face clips in videos and images, cut frames, spell ffmpeg commands.

A video is scanned once (a full scan every ``FULL_SCAN_EVERY`` frames, the faces tracked on every frame in
between, see ``fomm_cli.face.scan``), and the faces are linked into tubes by overlap; each tube long
enough becomes a clip: one static square around the whole tube, cut from the tube's first to its last
frame with the matching audio. A still image gives one crop per face. Output names and collisions are
decided by the job (``fomm_cli.jobs.crop``).
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fomm_cli.face import DEFAULT_INCREASE, DEFAULT_MIN_FACE, DEFAULT_MIN_FRAMES
from fomm_cli.face.backends import FaceBackend
from fomm_cli.face.crop import (
    TubeTracker,
    crop_and_resize,
    face_box,
    square_box,
    track_tubes,
)
from fomm_cli.face.scan import FaceScanner
from fomm_cli.reporting import Reporter

# Frames between two full scans of a video: a face entering the picture is found within 0.4 s at 25 fps.
FULL_SCAN_EVERY = 10


@dataclass(eq=False)  # numpy fields: compare values explicitly
class FaceClip:
    """A face to cut out: square ``box`` (int64 ``[x1, y1, x2, y2]`` input pixels) over frames
    ``start_frame..end_frame`` (inclusive) of a video at ``fps``, or of a still image (``fps`` None)."""

    box: np.ndarray
    start_frame: int = 0
    end_frame: int = 0
    fps: float | None = None

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame + 1

    @property
    def start(self) -> float | None:
        """Start time in seconds (None for images)."""
        return None if self.fps is None else self.start_frame / self.fps

    @property
    def end(self) -> float | None:
        """End time in seconds, exclusive: start + duration (None for images)."""
        return None if self.fps is None else (self.end_frame + 1) / self.fps

    def summary(self, path: Path | None) -> dict:
        """The JSON description of the clip (times rounded to the millisecond)."""
        return {
            "box": [int(v) for v in self.box],
            "start": _milliseconds(self.start),
            "end": _milliseconds(self.end),
            "frames": self.num_frames,
            "path": None if path is None else str(path),
        }


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


@dataclass
class VideoScan:
    """Faces found in a video: the clips kept and the lengths (frames) of the tracks dropped as too short."""

    clips: list[FaceClip]
    dropped: list[int] = field(default_factory=list)
    num_frames: int = 0
    min_frames: int = 1
    fps: float = 0.0
    has_audio: bool = False


def find_image_faces(
    image: np.ndarray, backend: FaceBackend, increase: float = DEFAULT_INCREASE, min_face: float = DEFAULT_MIN_FACE
) -> list[FaceClip]:
    """One square crop per face of a still image, largest face first."""
    return [FaceClip(square_box(face_box(f), image.shape, increase)) for f in backend.detect(image, min_face)]


def effective_min_frames(min_frames: int, num_frames: int) -> int:
    """``min_frames`` capped at half the video's length, so a short video still yields its face."""
    return max(1, min(min_frames, num_frames // 2))


def find_video_faces(
    path: str | Path,
    backend: FaceBackend,
    increase: float = DEFAULT_INCREASE,
    min_frames: int = DEFAULT_MIN_FRAMES,
    min_face: float = DEFAULT_MIN_FACE,
    reporter: Reporter | None = None,
) -> VideoScan:
    """Scan a video (file or frames folder) for face tubes; clips are ordered by start frame."""
    from fomm_cli.media.video import iter_frames, probe

    reporter = reporter or Reporter()
    info = probe(path)
    shape: tuple[int, ...] = (info.height, info.width)  # replaced by the decoded frames' actual shape
    count = 0
    scanner = FaceScanner(backend, min_face, full_every=FULL_SCAN_EVERY, track_every=1)

    def detections() -> Iterator[tuple[int, list[np.ndarray]]]:
        nonlocal count, shape
        frames = reporter.track(iter_frames(path), f"finding faces in {Path(path).name}", info.num_frames)
        for index, frame in enumerate(frames):
            count, shape = index + 1, frame.shape
            faces = scanner(index, frame)
            if faces is not None:
                yield index, [face_box(face) for face in faces]

    # A face missed by one full scan (and no longer tracked) keeps its tube until the next one.
    tubes = track_tubes(detections(), TubeTracker(max_gap=2 * FULL_SCAN_EVERY))
    threshold = effective_min_frames(min_frames, count)
    clips = [
        FaceClip(square_box(t.union(), shape, increase), t.start, t.end, info.fps)
        for t in tubes
        if t.length >= threshold
    ]
    dropped = [t.length for t in tubes if t.length < threshold]
    return VideoScan(clips, dropped, count, threshold, info.fps, info.has_audio)


def write_image_crops(image: np.ndarray, clips: list[FaceClip], outputs: list[Path], size: int) -> None:
    """Write each face crop of a still image (``outputs[i]`` for ``clips[i]``), resized to size x size."""
    from fomm_cli.media.image import write_image

    for clip, output in zip(clips, outputs, strict=True):
        write_image(output, crop_and_resize(image, clip.box, size))


def write_video_clips(
    path: str | Path,
    scan: VideoScan,
    outputs: list[Path],
    size: int,
    overwrite: bool = False,
    reporter: Reporter | None = None,
) -> None:
    """Cut every clip of ``scan`` out of the video at ``path`` in one decoding pass (with its audio).

    Each clip is encoded while the frames stream by and renamed into place when its last frame is
    written; on an error every unfinished output is removed.
    """
    from fomm_cli.media.video import VideoWriter, iter_frames

    clips = scan.clips
    if not clips:
        return
    reporter = reporter or Reporter()
    last = max(c.end_frame for c in clips)
    writers: dict[int, VideoWriter] = {}
    try:
        for index, frame in enumerate(reporter.track(iter_frames(path), f"cutting {Path(path).name}", last + 1)):
            for k, clip in enumerate(clips):
                if clip.start_frame == index:
                    writers[k] = VideoWriter(
                        outputs[k],
                        clip.fps or scan.fps,
                        audio_from=path if scan.has_audio else None,
                        audio_start=clip.start or 0.0,
                        audio_duration=(clip.end or 0.0) - (clip.start or 0.0),
                        overwrite=overwrite,
                    )
                if k in writers:
                    writers[k].write(crop_and_resize(frame, clip.box, size))
                if clip.end_frame == index and k in writers:
                    writers.pop(k).close()
            if index >= last:
                break
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    # A video shorter than its header promised: finish what was cut so far.
    for writer in writers.values():
        writer.close()


def _ffmpeg_name() -> str:
    if shutil.which("ffmpeg"):
        return "ffmpeg"
    from fomm_cli.media.video import ffmpeg_exe

    return shlex.quote(ffmpeg_exe())


def ffmpeg_command(input_path: str | Path, clip: FaceClip, output: str | Path, size: int) -> str:
    """A shell command that cuts ``clip`` like ``fomm crop`` does (crop, scale, time range, audio)."""
    x1, y1, x2, y2 = (int(v) for v in clip.box)
    video_filter = f"crop={x2 - x1}:{y2 - y1}:{x1}:{y1},scale={size}:{size}"
    parts = [_ffmpeg_name()]
    if clip.fps is None:
        parts += ["-i", shlex.quote(str(input_path)), "-vf", shlex.quote(video_filter), "-frames:v", "1"]
    else:
        duration = clip.num_frames / clip.fps
        parts += [
            "-ss", f"{clip.start:.6f}", "-i", shlex.quote(str(input_path)), "-t", f"{duration:.6f}",
            "-vf", shlex.quote(video_filter),
            "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac",
        ]  # fmt: skip
    parts.append(shlex.quote(str(output)))
    return " ".join(parts)
