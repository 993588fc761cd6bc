"""`fomm animate --face`: a group photo of real faces, every face (or one) animated and pasted back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fomm_cli.media import frame_files
from fomm_cli.media.image import read_image, write_image
from tests.face_scenes import astronaut_samples, matches, scene
from tests.helpers import driving_video, tiny_model_dir

FOMM = Path(sys.executable).parent / "fomm"


def fomm(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(FOMM), *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A 640 x 360 photo of three people (faces 50, 60 and 70 px wide; the first two crops overlap), a tiny
    64 px model and a 16-frame driving video."""
    root = tmp_path_factory.mktemp("group")
    samples = astronaut_samples()
    photo, truths = scene((360, 640), [(samples[0], 50, (130, 170)), (samples[1], 60, (235, 200)),
                                       (samples[3], 70, (490, 160))])
    write_image(root / "group.png", photo)
    tiny_model_dir(root / "tiny")
    driving_video(root / "driving.mp4", repeat=2)
    return root, truths


def test_every_face_moves_and_nothing_else_does(group: tuple[Path, list[np.ndarray]]) -> None:
    root, truths = group
    out = root / "all"
    result = fomm("animate", root / "group.png", root / "driving.mp4", "-o", out, "-c", root / "tiny",
                  "--crop", "--face", "all", "--face-backend", "dlib", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    faces = summary["faces"]
    assert len(faces) == 3 and summary["frames"] == 16 and "crop_box" not in summary
    for entry, truth in zip(faces, truths, strict=True):  # left to right, each box around its face
        assert matches(np.array(entry["face"], np.float32), truth)
        x1, y1, x2, y2 = entry["box"]
        assert x2 - x1 == y2 - y1 and x1 <= truth[0] and x2 >= truth[2]
        assert entry["movement_scale"] > 0
    boxes = [entry["box"] for entry in faces]
    assert boxes[0][2] > boxes[1][0]  # the first two crops overlap

    photo = read_image(root / "group.png")
    away = np.ones(photo.shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        away[y1:y2, x1:x2] = False
    moved = np.zeros(3)
    frames = frame_files(out)
    assert len(frames) == 16
    for path in frames:
        frame = read_image(path)
        assert frame.shape == photo.shape
        np.testing.assert_array_equal(frame[away], photo[away])  # lossless PNG: bit-identical away from faces
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            inner = (slice(y1 + 6, y2 - 6), slice(x1 + 6, x2 - 6))
            moved[k] = max(moved[k], np.abs(frame[inner].astype(int) - photo[inner].astype(int)).mean())
    assert (moved > 1).all(), moved


def test_one_face_by_number(group: tuple[Path, list[np.ndarray]]) -> None:
    root, truths = group
    result = fomm("animate", root / "group.png", root / "driving.mp4", "-o", root / "second", "-c", root / "tiny",
                  "--crop", "--face", "2", "--face-backend", "dlib")
    assert result.returncode == 0, result.stderr
    assert "found 3 faces in the source image; animating face 2 from the left" in result.stderr
    photo = read_image(root / "group.png")
    last = read_image(frame_files(root / "second")[-1])
    changed = [np.abs(last[int(y1):int(y2), int(x1):int(x2)].astype(int) - photo[int(y1):int(y2), int(x1):int(x2)])
               .mean() for x1, y1, x2, y2 in truths]
    assert changed[0] == changed[2] == 0 and changed[1] > 1  # only the middle face moved
    result = fomm("animate", root / "group.png", root / "driving.mp4", "-o", root / "x", "-c", root / "tiny",
                  "--face", "first")
    assert result.returncode == 2 and "--face must be all, largest or a face number" in result.stderr


def test_several_faces_need_the_crop_and_the_paste_back(group: tuple[Path, list[np.ndarray]]) -> None:
    from fomm_cli.errors import ConflictingSettings
    from fomm_cli.jobs.animate import Options, run

    root, _ = group
    common = {"source": root / "group.png", "driving": root / "driving.mp4", "checkpoint": root / "tiny",
              "face_backend": "dlib"}
    with pytest.raises(ConflictingSettings, match="several faces are only shown pasted back") as raised:
        run(Options(output=root / "unpasted", crop=True, face="all", paste_back=False, **common))
    assert raised.value.settings == ("face", "paste_back")
    with pytest.raises(ConflictingSettings, match="choosing faces needs the source cropped") as raised:
        run(Options(output=root / "uncropped", crop=False, face="2", **common))
    assert raised.value.settings == ("face", "crop")
    assert not (root / "unpasted").exists() and not (root / "uncropped").exists()
    assert Options(output=root / "o", face=" ALL ", **common).face == "all"  # library callers get the same parsing
