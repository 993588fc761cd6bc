"""Test videos in, reconstructions out.

A test folder holds one entry per video, in any of the forms first-order-model's datasets use: a video file
(mp4, gif, mov, ...), a folder of frames, or a PNG/JPEG strip of frames concatenated horizontally (width
T x W). Reconstruction is first-order-model's ``reconstruction`` mode: the source is the video's first
frame and the driving video is the video itself, with absolute keypoints (no relative motion, no scale
adaptation).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fomm_cli.errors import FommError, InvalidSetting
from fomm_cli.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

if TYPE_CHECKING:
    from fomm_cli.animate import Animator

# Strips are the lossless form of the reference datasets; lossy JPEG strips are read too (Tai-Chi uses them).
STRIP_EXTENSIONS = {".png", ".jpg", ".jpeg"}


def list_videos(folder: str | Path) -> list[Path]:
    """The videos of a test folder, sorted by name. A dataset root with ``train/`` and ``test/`` means its
    ``test/`` (as first-order-model's FramesDataset reads it)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FommError(f"not a folder of test videos: {folder}")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        folder = folder / "test"
    videos = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and _is_video_entry(p))
    if not videos:
        raise FommError(f"{folder} holds no videos (video files, folders of frames or PNG strips)")
    return videos


def _is_video_entry(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in VIDEO_EXTENSIONS | STRIP_EXTENSIONS


def video_key(path: Path) -> str:
    """The name that pairs a real video with its generated one: the file name without its media
    extensions, so ``a.mp4``, ``a.png``, ``a/`` and first-order-model's ``a.mp4.png`` all match."""
    name = path.name
    known = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
    while (suffix := Path(name).suffix).lower() in known:
        name = name[: -len(suffix)]
    return name


def parse_frame_shape(text: str) -> tuple[int, int]:
    """'256x256' or '256,256' -> (height, width)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise InvalidSetting("frame_shape", text, "HEIGHTxWIDTH, e.g. 256x256") from None
    if height < 1 or width < 1:
        raise InvalidSetting("frame_shape", text, "two positive sizes, HEIGHTxWIDTH")
    return height, width


def iter_video(path: Path, frame_shape: tuple[int, int] | None = None,
               size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Frames of one test video as uint8 H x W x 3 RGB, resized to ``size`` (height, width) if given.

    frame_shape: (height, width) of a frame in a strip; default square frames as tall as the strip.
    """
    from fomm_cli.media.image import read_image, resize
    from fomm_cli.media.video import iter_frames

    if path.is_file() and path.suffix.lower() in STRIP_EXTENSIONS:
        frames: Iterable[np.ndarray] = split_strip(read_image(path), frame_shape, path)
    else:
        frames = iter_frames(path)
    for frame in frames:
        yield resize(frame, size) if size else frame


def split_strip(image: np.ndarray, frame_shape: tuple[int, int] | None, name: Path | str = "strip") -> np.ndarray:
    """Cut a horizontal strip (H x T*W x 3) into T x H x W x 3 frames."""
    height, width = image.shape[:2]
    frame_h, frame_w = frame_shape or (height, height)
    if frame_h != height or width % frame_w:
        raise FommError(f"{name}: a {width}x{height} strip cannot be cut into {frame_w}x{frame_h} frames "
                        "(pass --frame-shape HEIGHTxWIDTH)")
    return image.reshape(height, width // frame_w, frame_w, 3).transpose(1, 0, 2, 3)


def reconstruct(animator: Animator, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (real, reconstructed) frame pairs, streaming: at most one batch of frames is held.

    animator: built with ``relative=False, adapt_scale=False``; frames at the model's size. The source is
    the first frame.
    """
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    real, driving = itertools.tee(itertools.chain([first], frames))
    yield from zip(real, animator.animate(first, driving), strict=True)


def repeat_first_frame(frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (real, first frame) pairs: the no-motion baseline's "reconstruction"."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    for frame in itertools.chain([first], frames):
        yield frame, first
