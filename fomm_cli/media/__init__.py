"""Image and video I/O at the edge of the pipeline: uint8 H x W x 3 RGB numpy arrays in and out.

- ``video``: the common entry points (``probe``, ``iter_frames``, ``read_frames``, ``write_video``).
- ``reader``: ``VideoSource``, constant-rate frames of a file, folder or stdin; segments, rate, warnings.
- ``writer``: ``VideoWriter``, H.264/GIF/y4m/PNG frames to files, folders, stdout, pipes and devices.
- ``outputs``: ``check_output``, what an output will be and whether writing it is safe (no heavy imports).
- ``timing``: ``parse_time``/``parse_fps``, times and rates as users write them (no heavy imports).
- ``image``: still images; ``ffmpeg``: running the bundled ffmpeg; ``stdin``: standard input, read once.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif", ".m4v"}


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video(path: str | Path) -> bool:
    """A video file, or a folder of frames."""
    path = Path(path)
    return path.suffix.lower() in VIDEO_EXTENSIONS or path.is_dir()


def frame_files(folder: str | Path) -> list[Path]:
    """Image files of a frames folder, in natural (name) order."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
