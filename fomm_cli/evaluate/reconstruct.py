"""Test videos in, reconstructions out.

A test folder holds one entry per video in any of the forms of ``fomm_cli.datasets`` (video files, folders of
frames, strips). Reconstruction is first-order-model's ``reconstruction`` mode: the source is the video's
first frame and the driving video is the video itself, with absolute keypoints (no relative motion, no scale
adaptation). Each reconstructed frame comes with the model's float prediction, which is what the authors'
``reconstruction.py`` scored its L1 on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fomm_cli.datasets import scan_videos, split_folder, split_strip
from fomm_cli.errors import InputError, InvalidSetting

if TYPE_CHECKING:
    from fomm_cli.animate import Animator


class Pair(NamedTuple):
    """A real frame and its reconstruction, uint8 H x W x 3; ``prediction``: the reconstruction before
    rounding, float32 H x W x 3 in [0, 1] (None when the reconstruction is an image to begin with)."""

    real: np.ndarray
    generated: np.ndarray
    prediction: np.ndarray | None = None


def list_videos(folder: str | Path) -> list[Path]:
    """The videos of a test folder, sorted by name (a dataset root means its ``test/``)."""
    folder = split_folder(folder, "test")
    videos = [entry.path for entry in scan_videos(folder)]
    if not videos:
        raise InputError(folder, "holds no videos (video files, folders of frames or strip images)")
    return videos


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
    from fomm_cli.datasets import entry_kind
    from fomm_cli.media.image import read_image, resize
    from fomm_cli.media.video import iter_frames

    if entry_kind(path) == "strip":
        frames: Iterable[np.ndarray] = split_strip(read_image(path), frame_shape, path)
    else:
        frames = iter_frames(path)
    for frame in frames:
        yield resize(frame, size) if size else frame


def reconstruct(animator: Animator, frames: Iterable[np.ndarray]) -> Iterator[Pair]:
    """Yield (real, reconstructed, float prediction) per frame, streaming: at most one batch is held.

    animator: built with ``relative=False, adapt_scale=False``; frames at the model's size. The source is
    the first frame.
    """
    from fomm_cli.animate import batched, to_uint8

    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    source = animator.encode_source(first)
    kp_reference = animator.keypoints(first)  # unused by absolute transfer, which copies the driving keypoints
    for batch in batched(itertools.chain([first], frames), animator.batch_size, ramp=True):
        predictions = animator.render(source, animator.keypoints(batch), kp_reference, 1.0)
        floats = predictions.float().permute(0, 2, 3, 1).cpu().numpy()
        yield from (Pair(real, generated, prediction)
                    for real, generated, prediction in zip(batch, to_uint8(predictions), floats, strict=True))


def repeat_first_frame(frames: Iterable[np.ndarray]) -> Iterator[Pair]:
    """Yield (real, first frame) pairs: the no-motion baseline's "reconstruction"."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    for frame in itertools.chain([first], frames):
        yield Pair(frame, first)
