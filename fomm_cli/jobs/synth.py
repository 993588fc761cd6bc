"""`fomm data synth`: a synthetic dataset of cartoon-face videos (``fomm_cli.synth``) in a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fomm_cli.errors import OutputExists, UnsafeOutput
from fomm_cli.reporting import Reporter


@dataclass(frozen=True)
class Options:
    """``videos`` / ``test_videos``: train and test videos (test identities are never seen in training);
    ``clips_per_id``: clips per identity (one look, several motions, for identity sampling)."""

    out: Path
    videos: int = 200
    test_videos: int = 20
    frames: int = 64
    size: int = 64
    seed: int = 0
    format: str = "png"
    clips_per_id: int = 4
    fps: float = 25.0
    overwrite: bool = False

    def __post_init__(self) -> None:
        from fomm_cli.synth.dataset import check_settings  # numpy and cv2, no torch

        check_settings(self.videos, self.test_videos, self.frames, self.size, self.seed, self.format,
                       self.clips_per_id, self.fps)


@dataclass
class Summary:
    dataset: Any  # fomm_cli.synth.dataset.WrittenDataset

    def to_json(self) -> dict[str, Any]:
        return self.dataset.to_json()


def check(options: Options) -> None:
    """The output folder may be written: not a file, and empty unless replacing it was asked for."""
    if options.out.exists() and not options.out.is_dir():
        raise UnsafeOutput(options.out, "it is a file, not a dataset folder")
    if options.out.is_dir() and not options.overwrite and any(options.out.iterdir()):
        raise OutputExists(options.out)


def run(options: Options, reporter: Reporter | None = None) -> Summary:
    check(options)
    from fomm_cli.synth import write_dataset

    return Summary(write_dataset(options.out, options.videos, options.test_videos, options.frames, options.size,
                                 options.seed, options.format, options.clips_per_id, options.fps, options.overwrite,
                                 reporter))
