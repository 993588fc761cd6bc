"""Face crops for `fomm animate`: a large portrait cropped, animated and pasted back; the driving face tube."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from fomm_cli.errors import NoFaceFound
from fomm_cli.face.composite import paste_back
from fomm_cli.face.crop import iou, square_box
from fomm_cli.face.dlib_backend import DlibBackend
from fomm_cli.face.select import crop_faces
from fomm_cli.face.source import DrivingCropper
from tests.face_scenes import CountingBackend

ASTRONAUT_FACE = np.array([175, 80, 270, 175], np.float32)  # see test_face_backends.py


def placed(scale: float, tx: float, ty: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(the astronaut scaled and moved on a canvas of size (height, width), her face box there)."""
    matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float64)
    canvas = cv2.warpAffine(
        data.astronaut(), matrix, (size[1], size[0]), flags=cv2.INTER_AREA, borderValue=(40, 60, 90)
    )
    return canvas, ASTRONAUT_FACE * scale + np.array([tx, ty, tx, ty], np.float32)


def test_a_large_portrait_goes_through_crop_animation_and_paste_back() -> None:
    from fomm_cli.animate import Animator
    from fomm_cli.checkpoints import load_model
    from tests.helpers import PARITY, driving_frames

    portrait, truth = placed(1.2, 150, 60, (700, 900))
    backend = DlibBackend()
    (chosen,) = crop_faces(portrait, backend.detect(portrait), "largest", (64, 64))
    crop, box = chosen.crop, chosen.box
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert box.dtype == np.int64 and box[2] - box[0] == box[3] - box[1] > 64
    assert iou(box, square_box(truth, portrait.shape, 0.5)) >= 0.7

    model = load_model(PARITY / "a.pth.tar")
    model.config.image_size = (64, 64)
    results = list(Animator(model, "cpu").animate(crop, driving_frames()))
    assert len(results) == 8
    outside = np.ones(portrait.shape[:2], bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    for result in results:
        full = paste_back(portrait, result, box)
        assert full.shape == portrait.shape
        np.testing.assert_array_equal(full[outside], portrait[outside])
    inner = (slice(box[1] + 20, box[3] - 20), slice(box[0] + 20, box[2] - 20))
    assert np.abs(full[inner].astype(int) - portrait[inner].astype(int)).mean() > 1  # the face did change


def test_a_source_without_a_face_says_where() -> None:
    blank = np.full((300, 300, 3), 128, np.uint8)
    with pytest.raises(NoFaceFound, match=r"^no face found in the source image$") as raised:
        crop_faces(blank, DlibBackend().detect(blank), "largest", 256)
    assert raised.value.where == "the source image"


def moving_frames(count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    views = [placed(0.9, 20 + 4 * i, 40 + 2 * i, (360, 480)) for i in range(count)]
    return [frame for frame, _ in views], [truth for _, truth in views]


def test_the_driving_crop_is_one_static_box_around_the_whole_face_tube() -> None:
    frames, truths = moving_frames(12)
    backend = CountingBackend()
    cropper = DrivingCropper(lambda: iter(frames), backend, 128, detect_every=3, full_every=6)
    crops = list(cropper)
    assert len(crops) == 12 and all(c.shape == (128, 128, 3) for c in crops)
    # full scans at frames 0 and 6, the face tracked in a window around it at frames 3 and 9
    assert backend.shapes[::2] == [(360, 480), (360, 480)]
    assert all(max(shape) < 360 for shape in backend.shapes[1::2]) and len(backend.shapes) == 4
    union = np.concatenate([np.min(truths, axis=0)[:2], np.max(truths, axis=0)[2:]])
    assert iou(cropper.box, square_box(union, frames[0].shape, 0.5)) >= 0.7
    for truth in truths:  # every face stays inside the one box
        assert (truth[:2] >= cropper.box[:2] - 2).all() and (truth[2:] <= cropper.box[2:] + 2).all()
    assert len(list(cropper)) == 12 and len(backend.shapes) == 4  # the second pass only crops


def test_a_driving_video_is_analysed_once_and_a_faceless_one_says_so(tmp_path: Path) -> None:
    from fomm_cli.media.video import write_video

    frames, _ = moving_frames(6)
    backend = CountingBackend()
    cropper = DrivingCropper.from_video(write_video(tmp_path / "driving.mp4", frames, 25), backend, (96, 96))
    first, calls = list(cropper), len(backend.shapes)
    second = list(cropper)
    assert len(first) == len(second) == 6 and first[0].shape == (96, 96, 3)
    assert calls == 2 and len(backend.shapes) == calls  # frames 0 (full) and 5 (tracked), the first time only
    blank = write_video(tmp_path / "blank.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, 25)
    with pytest.raises(NoFaceFound, match="no face found in the driving video"):
        list(DrivingCropper.from_video(blank, backend, 64))
