"""dlib identity descriptors (used for the AED metric) on real photos."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from fomm_cli.face.backends import get_backend
from fomm_cli.face.identity import SAME_PERSON_DISTANCE, descriptor_distance, face_descriptor


def test_same_person_is_close_and_another_person_is_far() -> None:
    astronaut = data.astronaut()
    reference = face_descriptor(astronaut)
    assert reference is not None and reference.shape == (128,) and reference.dtype == np.float64

    # the same photo moved, shrunk and mirrored is still the same person
    moved = cv2.warpAffine(astronaut, np.array([[0.8, 0, 60], [0, 0.8, 30]]), (512, 512))
    for variant in (moved, np.ascontiguousarray(astronaut[:, ::-1])):
        same = face_descriptor(variant)
        assert same is not None and descriptor_distance(reference, same) < SAME_PERSON_DISTANCE / 2

    # scikit-image's first LFW face: somebody else
    other_gray = cv2.resize(data.lfw_subset()[0], (200, 200), interpolation=cv2.INTER_CUBIC)
    other = np.repeat((np.clip(other_gray, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    different = face_descriptor(other)
    assert different is not None and descriptor_distance(reference, different) > SAME_PERSON_DISTANCE


def test_a_given_face_is_used_as_is_and_no_face_gives_none() -> None:
    astronaut = data.astronaut()
    face = get_backend("dlib").detect(astronaut)[0]
    np.testing.assert_allclose(face_descriptor(astronaut, face), face_descriptor(astronaut), atol=1e-6)
    assert face_descriptor(np.full((120, 160, 3), 90, np.uint8)) is None
