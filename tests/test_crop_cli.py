"""`fomm crop` end to end (the installed script): real photos moved, zoomed and placed small in larger scenes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from fomm_cli.face.crop import iou, square_box, union_box
from fomm_cli.face.dlib_backend import DlibBackend
from fomm_cli.media.image import read_image, write_image
from fomm_cli.media.video import ffmpeg_exe, probe, read_frames
from tests.face_scenes import ASTRONAUT_FACE, astronaut_samples, matches, scene

FOMM = Path(sys.executable).parent / "fomm"
FACE_CENTRE = (ASTRONAUT_FACE[:2] + ASTRONAUT_FACE[2:]) / 2
CANVAS = (420, 560)  # height, width
FPS = 25


def view(scale: float, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(canvas frame with the astronaut scaled by ``scale`` and her face centred at ``centre``, face box)."""
    tx, ty = np.array(centre) - scale * FACE_CENTRE
    matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float64)
    frame = cv2.warpAffine(data.astronaut(), matrix, CANVAS[::-1], flags=cv2.INTER_AREA, borderValue=(40, 60, 90))
    return frame, ASTRONAUT_FACE * scale + np.array([tx, ty, tx, ty], np.float32)


def encode(path: Path, frames: list[np.ndarray], audio: bool) -> Path:
    """An H.264 mp4 of ``frames`` at 25 fps, with a 440 Hz sine audio track when asked."""
    height, width = frames[0].shape[:2]
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
           "-r", str(FPS), "-i", "-"]  # fmt: skip
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={len(frames) / FPS}", "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """24 frames: the face drifts 32 px right and 16 px down while zooming from 0.95 to 1.1."""
    views = [view(0.95 + 0.15 * t / 23, (230 + 32 * t / 23, 170 + 16 * t / 23)) for t in range(24)]
    path = encode(tmp_path_factory.mktemp("videos") / "moving.mp4", [f for f, _ in views], audio=True)
    return path, [box for _, box in views]


def fomm_crop(*args: str | Path) -> tuple[int, str, str]:
    """Run `fomm crop ARGS` with the dlib backend: (exit code, stdout, stderr)."""
    argv = [str(FOMM), "crop", *map(str, args)]
    if "--face-backend" not in argv:  # the same detector on every machine, whatever weights it has cached
        argv += ["--face-backend", "dlib"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_a_moving_zooming_face_gives_one_clip_that_follows_it(
    moving_video: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    video, truths = moving_video
    code, out, err = fomm_crop(video, "-o", tmp_path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["face_backend"] in ("dlib", "face-alignment")
    (entry,) = report["inputs"]
    (clip,) = entry["clips"]
    assert clip["start"] == 0.0 and clip["end"] == pytest.approx(24 / FPS) and clip["frames"] == 24
    box = np.array(clip["box"])
    assert box[2] - box[0] == box[3] - box[1]
    assert iou(box, square_box(union_box(truths), CANVAS, 0.5)) >= 0.7

    output = Path(clip["path"])
    assert output == tmp_path / "moving-01.mp4"
    info = probe(output)
    assert (info.width, info.height) == (256, 256) and info.has_audio
    frames = read_frames(output)
    assert len(frames) == 24
    # the face is where the crop box says it is, in the first and the last frame of the clip
    side = box[2] - box[0]
    for index in (0, 23):
        expected = (truths[index] - np.tile(box[:2], 2)) * 256 / side
        found = DlibBackend().detect(frames[index])[0].box
        assert iou(found, expected) >= 0.7


def test_still_images_are_cropped_and_a_faceless_one_is_reported(tmp_path: Path) -> None:
    astronaut, blank = tmp_path / "astronaut.png", tmp_path / "wall.jpg"
    write_image(astronaut, data.astronaut())
    write_image(blank, np.full((300, 400, 3), 200, np.uint8))
    code, out, err = fomm_crop(astronaut, blank, "-o", tmp_path / "crops", "--size", "128", "--json")
    assert code == 0, err  # something was produced
    assert "warning: " in err and "wall.jpg: no face found" in err  # shown even with --json
    entries = {Path(e["input"]).name: e for e in json.loads(out)["inputs"]}
    assert entries["wall.jpg"]["clips"] == [] and entries["wall.jpg"]["message"] == "no face found"
    (clip,) = entries["astronaut.png"]["clips"]
    assert clip["start"] is None and clip["end"] is None
    assert iou(np.array(clip["box"]), square_box(ASTRONAUT_FACE, (512, 512), 0.5)) >= 0.7
    crop = read_image(clip["path"])
    assert crop.shape == (128, 128, 3)
    assert sorted(p.name for p in (tmp_path / "crops").iterdir()) == ["astronaut-01.png"]


def test_nothing_found_anywhere_fails_clearly(tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    write_image(blank, np.full((200, 300, 3), 90, np.uint8))
    code, out, err = fomm_crop(blank, "-o", tmp_path / "crops")
    assert code == 1
    assert "wall.png: no face found" in err and "fomm: error: no face found in any input" in err
    assert out == "" and list((tmp_path / "crops").iterdir()) == []


def test_two_people_in_a_short_video_give_two_clips(tmp_path: Path) -> None:
    head = data.astronaut()[0:300, 100:350]
    frame = np.zeros((300, 500, 3), np.uint8)
    frame[:, :250], frame[:, 250:] = head, head[:, ::-1]
    video = encode(tmp_path / "pair.mp4", [frame] * 6, audio=False)  # far shorter than --min-frames 25
    code, out, err = fomm_crop(video, "-o", tmp_path, "--json")
    assert code == 0, err
    clips = json.loads(out)["inputs"][0]["clips"]
    assert len(clips) == 2
    assert sorted(c["box"][0] < 250 for c in clips) == [False, True]  # one per person
    for clip in clips:
        assert clip["frames"] == 6
        info = probe(clip["path"])
        assert (info.width, info.height) == (256, 256) and not info.has_audio
        assert len(read_frames(clip["path"])) == 6


def test_short_face_tracks_are_skipped_with_a_message(tmp_path: Path) -> None:
    face, _ = view(1.0, (280, 200))
    empty = np.full_like(face, 60)
    video = encode(tmp_path / "glimpse.mp4", [face] * 4 + [empty] * 16, audio=False)
    code, _, err = fomm_crop(video, "-o", tmp_path / "a")
    assert code == 1
    assert "glimpse.mp4: skipped 1 face track shorter than 10 frames (longest 4)" in err
    assert "lower --min-frames to keep short face tracks" in err
    code, out, err = fomm_crop(video, "-o", tmp_path / "b", "--min-frames", "3", "--json")
    assert code == 0, err
    (clip,) = json.loads(out)["inputs"][0]["clips"]
    assert (clip["start"], clip["end"], clip["frames"]) == (0.0, 0.16, 4)


def test_printed_ffmpeg_commands_cut_the_same_clips(
    moving_video: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    video, _ = moving_video
    astronaut = tmp_path / "astronaut.jpg"
    write_image(astronaut, data.astronaut())
    out_dir = tmp_path / "crops"
    code, out, err = fomm_crop(video, astronaut, "-o", out_dir, "--print-commands", "--size", "128")
    assert code == 0, err
    commands = out.strip().splitlines()
    assert len(commands) == 2 and all("crop=" in c and "scale=128:128" in c for c in commands)
    assert list(out_dir.iterdir()) == []  # a dry run writes nothing
    for command in commands:
        subprocess.run(command + " -loglevel error", shell=True, check=True)
    clip = out_dir / "moving-01.mp4"
    info = probe(clip)
    assert (info.width, info.height) == (128, 128) and info.has_audio
    assert abs(len(read_frames(clip)) - 24) <= 1
    assert read_image(out_dir / "astronaut-01.png").shape == (128, 128, 3)


def test_existing_outputs_are_kept_unless_overwrite(tmp_path: Path) -> None:
    astronaut = tmp_path / "astronaut.png"
    write_image(astronaut, data.astronaut())
    assert fomm_crop(astronaut, "-o", tmp_path / "crops")[0] == 0
    code, _, err = fomm_crop(astronaut, "-o", tmp_path / "crops")
    assert code == 1 and "astronaut-01.png exists (pass -y to overwrite)" in err
    assert fomm_crop(astronaut, "-o", tmp_path / "crops", "-y")[0] == 0
    code, _, err = fomm_crop(astronaut, "-o", tmp_path / "crops", "--face-backend", "openface")
    assert code == 2 and "--face-backend must be auto, face-alignment or dlib, not 'openface'" in err
    code, _, err = fomm_crop(astronaut, "-o", tmp_path / "crops", "--min-face", "4")
    assert code == 2 and "--min-face must be at least 8" in err


def test_a_group_photo_gives_one_crop_per_person_down_to_40_px(tmp_path: Path) -> None:
    """Three real faces 40, 50 and 70 px wide in a 1280 x 720 scene, found without any setting."""
    samples = astronaut_samples()
    photo, truths = scene((720, 1280), [(samples[0], 40, (200, 300)), (samples[1], 50, (640, 420)),
                                        (samples[2], 70, (1050, 250))])
    path = tmp_path / "group.png"
    write_image(path, photo)
    code, out, err = fomm_crop(path, "-o", tmp_path / "crops", "--size", "64", "--json")
    assert code == 0, err
    clips = json.loads(out)["inputs"][0]["clips"]
    assert len(clips) == 3
    for truth in truths:
        (clip,) = [c for c in clips if matches(np.array(c["box"], np.float32), truth)]
        assert clip["box"][2] - clip["box"][0] == pytest.approx(2 * (truth[2] - truth[0]), rel=0.25)
        assert read_image(clip["path"]).shape == (64, 64, 3)


def test_three_people_moving_in_a_video_give_three_clips(tmp_path: Path) -> None:
    """Three faces 40 to 60 px wide drifting by a third of their size in a 960 x 540 video of 30 frames (full
    scans at frames 0, 10, 20; tracked in between): one clip each, whose box holds its face in every frame."""
    samples = astronaut_samples()
    frames, tracks = [], []
    for t in range(30):
        layout = [(samples[0], 40, (150 + 0.5 * t, 150)), (samples[1], 50, (480, 300 - 0.6 * t)),
                  (samples[3], 60, (800 - 0.8 * t, 200 + 0.4 * t))]
        frame, truths = scene((540, 960), layout)
        frames.append(frame)
        tracks.append(truths)
    video = encode(tmp_path / "three.mp4", frames, audio=False)
    code, out, err = fomm_crop(video, "-o", tmp_path / "clips", "--size", "64", "--min-frames", "25", "--json")
    assert code == 0, err
    clips = json.loads(out)["inputs"][0]["clips"]
    assert len(clips) == 3 and all(c["frames"] == 30 for c in clips)
    boxes = sorted((np.array(c["box"]) for c in clips), key=lambda b: b[0])
    for k, box in enumerate(boxes):
        for truths in tracks:
            face = truths[k]
            assert (face[:2] >= box[:2] - 2).all() and (face[2:] <= box[2:] + 2).all()
