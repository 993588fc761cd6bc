"""The procedural face generator and `fomm data synth`: determinism, motion, parts, dataset layout, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fomm_cli.errors import InvalidSetting, OutputExists, SettingsError
from fomm_cli.synth import (
    FaceParams,
    FaceRenderer,
    Pose,
    dataset_videos,
    identity_seed,
    render_frame,
    render_video,
    write_dataset,
)


def test_same_seed_same_bytes_other_seed_or_clip_differs() -> None:
    a = render_video(5, 3, 64)
    assert a.dtype == np.uint8 and a.shape == (3, 64, 64, 3)
    assert a.tobytes() == render_video(5, 3, 64).tobytes()
    assert not np.array_equal(a, render_video(6, 3, 64))
    other_clip = render_video(5, 3, 64, clip=1)
    assert not np.array_equal(a[1:], other_clip[1:])
    # same identity: same static background (the top-left corner is never covered by the figure)
    assert np.array_equal(a[:, :5, :5], other_clip[:, :5, :5])


def test_render_frame_matches_video_and_odd_sizes() -> None:
    frame = render_frame(FaceParams.from_seed(3), 2, 48)
    assert np.array_equal(frame, render_video(3, 3, 48)[2])
    assert render_frame(FaceParams.from_seed(3), 0.5, 37).shape == (37, 37, 3)
    with pytest.raises(SettingsError):
        render_frame(FaceParams.from_seed(3), 0, 8)


@pytest.mark.parametrize("seed", [0, 8, 9])
def test_motion_is_smooth_but_visible(seed: int) -> None:
    video = render_video(seed, 31, 64).astype(np.float32)
    step = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
    drift = np.abs(video[30] - video[0]).mean()
    assert step.max() < 8.0  # mean absolute change per frame, in 0..255 units
    assert drift > 5.0 and drift > 2.0 * step.max()


def test_blinks_and_speech_happen_independently_of_head_motion() -> None:
    for seed in range(4):
        motion = FaceParams.from_seed(seed, clip=2).motion
        poses = [motion.pose(t) for t in range(64)]
        blink = np.array([p.blink for p in poses])
        mouth = np.array([p.mouth for p in poses])
        yaw = np.array([p.yaw for p in poses])
        assert blink.max() > 0.9 and (blink < 0.05).mean() > 0.5
        assert np.ptp(mouth) > 0.3
        assert np.ptp(yaw[:32]) > 0.1  # about 6 degrees or more within 32 frames
        # blinks are short events, unrelated to the mouth rhythm
        assert abs(np.corrcoef(blink, mouth)[0, 1]) < 0.9


@pytest.mark.parametrize("seed", [0, 4, 11])
def test_parts_move_independently(seed: int) -> None:
    """Closing the eyes changes only the eye band, opening the mouth only the mouth band."""
    size = 64
    app = FaceParams.from_seed(seed).appearance
    renderer = FaceRenderer(app, size)
    base = renderer.render(Pose()).astype(np.float32)
    blink = np.abs(renderer.render(Pose(blink=1.0)) - base).sum(axis=(1, 2))
    mouth = np.abs(renderer.render(Pose(mouth=1.0)) - base).sum(axis=(1, 2))
    eye_y = size * (0.45 - app.head_size * app.head_h * np.sin(app.eye_lat))
    mouth_y = size * (0.45 - app.head_size * app.head_h * np.sin(app.mouth_lat))
    mid = round((eye_y + mouth_y) / 2)
    assert blink.sum() > 2000 and mouth.sum() > 1000
    assert blink[mid:].sum() < 0.02 * blink.sum()
    assert mouth[:mid].sum() < 0.02 * mouth.sum()
    turned = renderer.render(Pose(yaw=0.6)).astype(np.float32)
    assert np.abs(turned - base).mean() > 3.0  # turning the head moves the whole face


def test_split_seeds_never_overlap() -> None:
    seeds = {split: {identity_seed(7, split, i) for i in range(500)} for split in ("train", "test", "heldout")}
    assert all(len(s) == 500 for s in seeds.values())
    assert not seeds["train"] & seeds["test"]
    assert not seeds["heldout"] & (seeds["train"] | seeds["test"])
    specs = dataset_videos(7, 10, 5, clips_per_identity=4)
    assert specs == dataset_videos(7, 10, 5, clips_per_identity=4)
    names = [s.name for s in specs]
    assert len(set(names)) == 15
    assert names[:5] == ["id0000#000", "id0000#001", "id0000#002", "id0000#003", "id0001#000"]
    assert names[10] == "id0003#000"  # test identities are numbered after the 3 train identities
    by_identity: dict[str, set[int]] = {}
    for spec in specs:
        by_identity.setdefault(spec.name.split("#")[0], set()).add(spec.identity_seed)
    assert all(len(s) == 1 for s in by_identity.values())  # clips of an identity share its seed
    train = {s.identity_seed for s in specs if s.split == "train"}
    assert not train & {s.identity_seed for s in specs if s.split == "test"}
    assert dataset_videos(8, 10, 5)[0].identity_seed != specs[0].identity_seed


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_write_dataset_png_layout_and_exact_frames(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    summary = write_dataset(root, 3, 1, 8, 64, seed=1, fmt="png", clips_per_identity=2)
    assert summary.train_videos == 3 and summary.test_videos == 1
    assert summary.train_identities == 2 and summary.test_identities == 1
    assert summary.manifest == root / "synth.json" and summary.to_json()["manifest"] == str(root / "synth.json")
    assert sorted(p.name for p in (root / "train").iterdir()) == ["id0000#000", "id0000#001", "id0001#000"]
    assert [p.name for p in (root / "test").iterdir()] == ["id0002#000"]
    frames = sorted(p.name for p in (root / "train" / "id0001#000").iterdir())
    assert frames == [f"{i:06d}.png" for i in range(8)]
    manifest = json.loads((root / "synth.json").read_text())
    video = manifest["videos"][2]
    assert video["name"] == "id0001#000" and video["split"] == "train"
    from fomm_cli.media.video import read_frames

    expected = render_video(video["identity_seed"], 8, 64, video["clip"])
    assert np.array_equal(read_frames(root / "train" / "id0001#000"), expected)  # PNG is lossless
    assert [p.name for p in tmp_path.iterdir()] == ["faces"]  # no temporary leftovers


def test_write_dataset_mp4_and_refusals(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_dataset(root, 2, 1, 8, 64, seed=2, fmt="mp4")
    assert sorted(p.name for p in (root / "train").iterdir()) == ["id0000#000.mp4", "id0000#001.mp4"]
    from fomm_cli.media.video import read_frames

    decoded = read_frames(root / "test" / "id0001#000.mp4")
    spec = dataset_videos(2, 2, 1)[2]
    expected = render_video(spec.identity_seed, 8, 64, spec.clip)
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(np.float32) - expected).mean() < 6.0
    before = _listing(root)
    with pytest.raises(OutputExists):
        write_dataset(root, 1, 0, 2, 32, seed=0)
    assert _listing(root) == before
    with pytest.raises(InvalidSetting, match="size must be even for mp4"):
        write_dataset(tmp_path / "odd", 1, 0, 2, 33, seed=0, fmt="mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]


def test_cli_synth(tmp_path: Path) -> None:
    from fomm_cli.cli.data import app

    runner = CliRunner()
    out = tmp_path / "ds"
    args = ["synth", str(out), "--videos", "2", "--test-videos", "1", "--frames", "4", "--size", "32"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["train_videos"] == 2 and summary["format"] == "png"
    assert len(list((out / "train").iterdir())) == 2

    refused = runner.invoke(app, args)
    assert refused.exit_code != 0
    assert isinstance(refused.exception, OutputExists) and refused.exception.path == out

    again = runner.invoke(app, [*args, "--seed", "3", "-y"])
    assert again.exit_code == 0, again.output
    assert "wrote 2 train and 1 test videos" in again.output and again.stdout == ""

    bad = runner.invoke(app, [*args, "--format", "gif", "-y"])
    assert isinstance(bad.exception, InvalidSetting) and bad.exception.setting == "format"


def test_fomm_entry_point_refuses_non_empty_out_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from fomm_cli.cli.app import main

    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "synth", str(tmp_path), "--videos", "1", "--frames", "2"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
