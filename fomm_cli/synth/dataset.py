"""A synthetic dataset on disk: which videos (``dataset_videos``), their identity seeds, and ``write_dataset``
(``ROOT/train``, ``ROOT/test``, the manifest ``ROOT/synth.json``)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fomm_cli.errors import InvalidSetting, OutputExists, UnsafeOutput
from fomm_cli.fsutil import replace_path, temp_dir_beside
from fomm_cli.reporting import Reporter
from fomm_cli.synth.params import FaceParams
from fomm_cli.synth.renderer import FaceRenderer

_SPLIT_CODES = {"train": 0, "test": 1, "heldout": 2}  # low 2 bits of identity seeds: splits never collide


@dataclass(frozen=True)
class VideoSpec:
    """One video of a synthetic dataset: ``render_video(identity_seed, frames, size, clip)`` rebuilds it."""

    name: str  # id{identity:04d}#{clip:03d}: the identity is the part before '#'
    split: str  # train | test
    identity_seed: int
    clip: int


def identity_seed(seed: int, split: str, index: int) -> int:
    """Seed of identity ``index`` in ``split`` ("train", "test" or "heldout") of the dataset made from ``seed``.

    The split is stored in the two lowest bits, so train, test and held-out seeds can never coincide, whatever
    the dataset sizes; examples and demos should take "heldout" seeds.
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}")
    if seed < 0 or index < 0:
        raise InvalidSetting("seed" if seed < 0 else "index", min(seed, index), "at least 0")
    h = int(np.random.SeedSequence([seed, _SPLIT_CODES[split], index]).generate_state(1)[0]) >> 2
    return (h << 2) | _SPLIT_CODES[split]


def dataset_videos(seed: int, num_videos: int, num_test_videos: int, clips_per_identity: int = 4) -> list[VideoSpec]:
    """The videos ``write_dataset`` makes, train first: ``clips_per_identity`` clips per identity (the last
    identity of a split may have fewer); test identities are numbered after the train ones."""
    if clips_per_identity < 1:
        raise InvalidSetting("clips_per_id", clips_per_identity, "at least 1")
    specs: list[VideoSpec] = []
    first = 0
    for split, count in (("train", num_videos), ("test", num_test_videos)):
        for i in range(count):
            index, clip = divmod(i, clips_per_identity)
            specs.append(VideoSpec(f"id{first + index:04d}#{clip:03d}", split, identity_seed(seed, split, index), clip))
        first += -(-count // clips_per_identity)
    return specs


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    from fomm_cli.media.image import write_image

    folder.mkdir()
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:06d}.png", frame)


FORMATS = ("png", "mp4")


def check_settings(num_videos: int, num_test_videos: int, num_frames: int, size: int, seed: int, fmt: str,
                   clips_per_identity: int, fps: float) -> None:
    """``InvalidSetting`` for a value ``write_dataset`` cannot use (settings named as ``fomm data synth``'s)."""
    if fmt not in FORMATS:
        raise InvalidSetting("format", fmt, "png or mp4")
    for name, value, low in (("videos", num_videos, 1), ("test_videos", num_test_videos, 0),
                             ("frames", num_frames, 2), ("seed", seed, 0), ("clips_per_id", clips_per_identity, 1)):
        if value < low:
            raise InvalidSetting(name, value, f"at least {low}")
    if not 16 <= size <= 2048:
        raise InvalidSetting("size", size, "between 16 and 2048 pixels")
    if fmt == "mp4" and size % 2:
        raise InvalidSetting("size", size, "even for mp4 (yuv420p)")
    if not fps > 0:
        raise InvalidSetting("fps", fps, "positive")


@dataclass(frozen=True)
class WrittenDataset:
    """What ``write_dataset`` wrote."""

    root: Path
    format: str
    size: int
    frames: int
    fps: float
    seed: int
    train_videos: int
    test_videos: int
    train_identities: int
    test_identities: int
    seconds: float

    @property
    def manifest(self) -> Path:
        return self.root / "synth.json"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "root": str(self.root), "manifest": str(self.manifest)}


def write_dataset(root: str | Path, num_videos: int, num_test_videos: int, num_frames: int, size: int, seed: int,
                  fmt: str = "png", clips_per_identity: int = 4, fps: float = 25.0, overwrite: bool = False,
                  reporter: Reporter | None = None) -> WrittenDataset:
    """Render a dataset into ``root/train`` and ``root/test`` (plus ``root/synth.json``, the manifest).

    ``fmt="png"``: each video is a folder of ``000000.png``...; ``fmt="mp4"``: one H.264 file per video.
    The dataset is built in a temporary sibling and renamed into place at the end; a non-empty ``root`` is
    only replaced when ``overwrite``.
    """
    root = Path(root)
    reporter = reporter or Reporter()
    check_settings(num_videos, num_test_videos, num_frames, size, seed, fmt, clips_per_identity, fps)
    if root.exists() and not root.is_dir():
        raise UnsafeOutput(root, "it is a file, not a dataset folder")
    if root.is_dir() and not overwrite and any(root.iterdir()):
        raise OutputExists(root)
    specs = dataset_videos(seed, num_videos, num_test_videos, clips_per_identity)

    start = time.perf_counter()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(root)
    try:
        for split in ("train", "test"):
            (tmp / split).mkdir()
        renderer: FaceRenderer | None = None
        renderer_seed = -1
        for spec in reporter.track(specs, "Rendering videos"):
            params = FaceParams.from_seed(spec.identity_seed, spec.clip)
            if renderer is None or spec.identity_seed != renderer_seed:  # one identity's clips share static maps
                renderer, renderer_seed = FaceRenderer(params.appearance, size), spec.identity_seed
            frames = np.stack([renderer.render(params.motion.pose(t)) for t in range(num_frames)])
            if fmt == "png":
                _write_frames(tmp / spec.split / spec.name, frames)
            else:
                from fomm_cli.media.video import write_video

                write_video(tmp / spec.split / f"{spec.name}.mp4", frames, fps)
        manifest = {
            "generator": "fomm_cli.synth",
            "seed": seed, "size": size, "frames": num_frames, "fps": fps, "format": fmt,
            "clips_per_identity": clips_per_identity,
            "videos": [asdict(spec) for spec in specs],
        }
        (tmp / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n")
        replace_path(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    identities = {split: {s.name.split("#")[0] for s in specs if s.split == split} for split in ("train", "test")}
    return WrittenDataset(root, fmt, size, num_frames, fps, seed, sum(s.split == "train" for s in specs),
                          sum(s.split == "test" for s in specs), len(identities["train"]), len(identities["test"]),
                          round(time.perf_counter() - start, 2))
