"""Choosing the faces of a photo to animate (fomm_cli.face.select): all, largest or the Nth from the left."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.errors import InvalidSetting, NoFaceFound
from fomm_cli.face import parse_face_choice
from fomm_cli.face.backends import Face
from fomm_cli.face.crop import face_box, square_box
from fomm_cli.face.dlib_backend import DlibBackend
from fomm_cli.face.select import crop_faces, select_faces
from tests.face_scenes import astronaut_samples, matches, scene


def face(x: float, width: float) -> Face:
    return Face(np.array([x, 50, x + width, 50 + width], np.float32), 1.0)


def test_face_choice_is_all_largest_or_a_number_from_one() -> None:
    assert parse_face_choice("all") == "all" and parse_face_choice(" Largest ") == "largest"
    assert parse_face_choice("2") == 2 and parse_face_choice(3) == 3
    for bad in ("0", "-1", "1.5", "left", "", 0, True):
        with pytest.raises(InvalidSetting, match="face must be all, largest or a face number") as raised:
            parse_face_choice(bad)
        assert raised.value.setting == "face"


def test_faces_count_left_to_right() -> None:
    middle, left, right = face(200, 40), face(10, 30), face(400, 60)
    faces = [right, middle, left]  # as a detector gives them: largest first
    assert select_faces(faces, "all") == [left, middle, right]
    assert select_faces(faces, "largest") == [right]
    assert select_faces(faces, 1) == [left] and select_faces(faces, 2) == [middle]
    with pytest.raises(InvalidSetting, match=r"a number from 1 to 3 \(the source image has 3 faces\), not 4"):
        select_faces(faces, 4)
    with pytest.raises(NoFaceFound, match="no face found in the group photo"):
        select_faces([], "all", where="the group photo")


def test_a_trio_of_small_faces_is_cropped_face_by_face() -> None:
    samples = astronaut_samples()
    photo, truths = scene((360, 640), [(samples[2], 60, (520, 200)), (samples[0], 40, (110, 140)),
                                       (samples[1], 50, (300, 230))])
    ordered = [truths[1], truths[2], truths[0]]  # left to right
    found = DlibBackend().detect(photo)
    crops = crop_faces(photo, found, "all", size=64)
    assert len(crops) == 3
    for chosen, truth in zip(crops, ordered, strict=True):
        assert matches(chosen.face.box, truth)
        assert chosen.crop.shape == (64, 64, 3) and chosen.crop.dtype == np.uint8
        assert chosen.box.dtype == np.int64 and chosen.box[2] - chosen.box[0] == chosen.box[3] - chosen.box[1]
        np.testing.assert_array_equal(chosen.box, square_box(face_box(chosen.face), photo.shape, 0.5))
        assert abs(chosen.centre - (truth[:2] + truth[2:]) / 2).max() < 0.2 * (truth[2] - truth[0])
        assert chosen.summary()["box"] == [int(v) for v in chosen.box]
    (second,) = crop_faces(photo, found, 2, size=64)
    np.testing.assert_array_equal(second.box, crops[1].box)
    (largest,) = crop_faces(photo, found, "largest", size=64)
    np.testing.assert_array_equal(largest.box, crops[2].box)
