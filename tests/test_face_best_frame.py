"""--find-best-frame: landmark normalisation and the search over a driving video."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from fomm_cli.face.backends import Face, get_backend
from fomm_cli.face.best_frame import find_best_frame, normalized_landmarks
from fomm_cli.face.crop import crop_and_resize, face_box, square_box


def test_normalized_landmarks_ignore_position_and_size() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (68, 2))
    reference = normalized_landmarks(points)
    assert reference is not None
    np.testing.assert_allclose(reference.mean(axis=0), 0, atol=1e-9)
    hull = cv2.convexHull(reference.astype(np.float32))
    assert cv2.contourArea(hull) == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(normalized_landmarks(points * 3.5 + [200, -40]), reference, atol=1e-5)
    collinear = np.stack([np.arange(68.0), 2 * np.arange(68.0)], axis=1)
    assert normalized_landmarks(collinear) is None


class ScriptedBackend:
    """Returns prepared landmarks per frame: frames are just indices into ``script``."""

    name = "scripted"

    def __init__(self, script: list[np.ndarray | None]) -> None:
        self.script = script

    def detect(self, image: np.ndarray, max_side: int | None = None) -> list[Face]:
        landmarks = self.script[int(image.flat[0])]
        if landmarks is None:
            return []
        return [Face(np.array([0, 0, 1, 1], np.float32), 1.0, landmarks)]


def test_find_best_frame_streams_skips_frames_without_faces_and_ignores_scale() -> None:
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 100, (68, 2))
    others = [source + rng.normal(0, 8, source.shape) for _ in range(4)]
    script = [others[0], None, others[1], source * 0.5 + 30, None, others[2], others[3]]
    backend = ScriptedBackend(script)
    frames = (np.full((4, 4, 3), i, np.uint8) for i in range(len(script)))  # a one-pass generator
    index, distance = find_best_frame(source, frames, backend)
    assert index == 3 and distance == pytest.approx(0.0, abs=1e-9)

    nothing = ScriptedBackend([None, None])
    assert find_best_frame(source, (np.full((4, 4, 3), i, np.uint8) for i in range(2)), nothing) == (None, math.inf)


def driving_view(image: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """A 256 x 256 frame of the astronaut's head rotated by ``angle`` degrees and scaled about her face."""
    centre = (223.0, 128.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += (128 + shift[0] - centre[0], 118 + shift[1] - centre[1])
    return cv2.warpAffine(image, matrix, (256, 256), flags=cv2.INTER_AREA, borderValue=(30, 30, 30))


def test_the_source_pose_is_found_in_a_real_driving_video() -> None:
    astronaut = data.astronaut()
    backend = get_backend("dlib")
    source_box = square_box(face_box(backend.detect(astronaut)[0]), astronaut.shape, 0.5)
    source = crop_and_resize(astronaut, source_box, 256)

    poses = [(-9, 0.9, (0, 0)), (10, 0.85, (5, -5)), (0, 0.75, (-20, 10)), (-7, 1.0, (10, 0)), (14, 0.8, (0, 8))]
    frames = [driving_view(astronaut, *pose) for pose in poses]
    frames.insert(2, np.full((256, 256, 3), 30, np.uint8))  # a frame without a face is skipped
    frames.insert(4, np.ascontiguousarray(frames[3][:, ::-1]))  # the source pose, mirrored: not the same pose
    expected = 3  # poses[2] (upright, smaller, elsewhere in the frame) after the blank frame

    index, distance = find_best_frame(source, iter(frames), backend)
    assert index == expected
    # the answer is clear: every other face is farther by a margin
    others = [find_best_frame(source, [frame], backend)[1] for i, frame in enumerate(frames) if i not in (2, expected)]
    assert min(others) > 2 * distance
