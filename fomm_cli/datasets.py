"""Video datasets on disk, as first-order-model lays them out; one listing for training and evaluation.

A dataset root holds ``train/`` and ``test/``; each holds one entry per video, in any of three forms:

- a folder of frames (image files in name order);
- a video file (mp4, mov, webm, mkv, avi, gif, m4v), decoded by ffmpeg;
- a strip: one image (any format ``fomm`` reads: png, jpg, webp, bmp, tiff) with the frames side by side,
  each ``frame_shape`` = (height, width), by default square frames as tall as the strip.

Hidden entries and other files are ignored. Videos named ``identity#anything`` share an identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fomm_cli.errors import InputError, InputNotFound
from fomm_cli.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

KINDS = ("frames", "file", "strip")


@dataclass(frozen=True)
class VideoEntry:
    path: Path
    kind: str  # one of KINDS

    @property
    def identity(self) -> str:
        """Videos named ``id#anything`` share the identity ``id``."""
        return self.path.name.split("#")[0]

    @property
    def key(self) -> str:
        """The name that pairs a real video with its generated one: the name without its media extensions,
        so ``a.mp4``, ``a.png``, ``a/`` and first-order-model's ``a.mp4.png`` all match."""
        return video_key(self.path)


def entry_kind(path: Path) -> str | None:
    """How ``path`` holds a video (one of ``KINDS``), or None if it is not a dataset entry."""
    if path.name.startswith("."):
        return None
    if path.is_dir():
        return "frames"
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "file"
    if suffix in IMAGE_EXTENSIONS:
        return "strip"
    return None


def scan_videos(folder: str | Path) -> list[VideoEntry]:
    """The videos directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFound(folder, "dataset folder")
    entries = []
    for path in sorted(folder.iterdir()):
        kind = entry_kind(path)
        if kind is not None:
            entries.append(VideoEntry(path, kind))
    return entries


def split_folder(root: str | Path, split: str) -> Path:
    """The videos of ``split`` under ``root``. "train": ``root/train``, which must exist. "test": ``root/test``
    when ``root`` is a dataset root (with ``train/`` and ``test/``, as first-order-model's FramesDataset reads
    it), else ``root`` itself, a folder of test videos."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFound(root, "dataset")
    if split == "test":
        return root / "test" if (root / "train").is_dir() and (root / "test").is_dir() else root
    if not (root / split).is_dir():
        raise InputError(root, f"has no {split}/ folder (a dataset root has train/ and test/, one entry per video)")
    return root / split


def split_strip(image: np.ndarray, frame_shape: tuple[int, int] | None, path: str | Path = "strip") -> np.ndarray:
    """A strip of frames side by side (H x T*W x 3) as T x H x W x 3; ``frame_shape`` (height, width), by
    default square frames as tall as the strip."""
    height, width = image.shape[:2]
    frame_h, frame_w = frame_shape or (height, height)
    if frame_h != height or width % frame_w:
        raise InputError(path, f"a {width}x{height} strip cannot be cut into {frame_w}x{frame_h} frames "
                               "(set the frame shape)")
    return image.reshape(height, width // frame_w, frame_w, image.shape[2]).transpose(1, 0, 2, 3)


def video_key(path: Path) -> str:
    """See ``VideoEntry.key``."""
    name = path.name
    known = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
    while (suffix := Path(name).suffix).lower() in known:
        name = name[: -len(suffix)]
    return name
