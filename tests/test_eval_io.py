"""Reading test folders: video files, frame folders, PNG strips, and how real and generated names pair up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fomm_cli.datasets import split_strip, video_key
from fomm_cli.errors import FommError, InputError
from fomm_cli.evaluate.pipeline import keyed_videos
from fomm_cli.evaluate.reconstruct import iter_video, list_videos, parse_frame_shape
from fomm_cli.media.image import write_image


def _frames(count: int, height: int = 8, width: int = 8) -> np.ndarray:
    rng = np.random.default_rng(count)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_strip_round_trip_and_frame_shape(tmp_path: Path) -> None:
    frames = _frames(3, 8, 6)
    strip = np.concatenate(list(frames), axis=1)  # 8 x 18
    write_image(tmp_path / "a.png", strip)
    np.testing.assert_array_equal(np.stack(list(iter_video(tmp_path / "a.png", (8, 6)))), frames)
    # default: square frames as tall as the strip, which 18 px do not divide into
    with pytest.raises(InputError, match="frame shape"):
        list(iter_video(tmp_path / "a.png"))
    square = _frames(4)
    np.testing.assert_array_equal(split_strip(np.concatenate(list(square), axis=1), None), square)


def test_folder_of_frames_and_resize(tmp_path: Path) -> None:
    frames = _frames(2, 16, 16)
    (tmp_path / "clip").mkdir()
    for i, frame in enumerate(frames):
        write_image(tmp_path / "clip" / f"{i:03d}.png", frame)
    np.testing.assert_array_equal(np.stack(list(iter_video(tmp_path / "clip"))), frames)
    assert next(iter_video(tmp_path / "clip", size=(8, 8))).shape == (8, 8, 3)


def test_video_keys_match_across_forms() -> None:
    assert video_key(Path("a.mp4")) == "a"
    assert video_key(Path("a.mp4.png")) == "a"  # first-order-model's reconstruction strips
    assert video_key(Path("a")) == "a"
    assert video_key(Path("id#1#2.v1.mp4")) == "id#1#2.v1"  # dots that are not media extensions stay


def test_list_videos_uses_test_split_and_refuses_duplicates(tmp_path: Path) -> None:
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        write_image(tmp_path / split / f"{split}.png", _frames(1)[0])
    (tmp_path / "test" / "notes.txt").write_text("not a video")
    assert [p.name for p in list_videos(tmp_path)] == ["test.png"]
    write_image(tmp_path / "test" / "test.jpg", _frames(1)[0])
    with pytest.raises(FommError, match="same video name"):
        keyed_videos(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FommError, match="holds no videos"):
        list_videos(tmp_path / "empty")


def test_parse_frame_shape() -> None:
    assert parse_frame_shape("256x128") == (256, 128)
    assert parse_frame_shape("64,64") == (64, 64)
    with pytest.raises(FommError):
        parse_frame_shape("256")
