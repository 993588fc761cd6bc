"""Box math and face tubes (fomm_cli.face.crop): pure functions, no detector."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.face.backends import Face
from fomm_cli.face.crop import (
    FOREHEAD_SHIFT,
    TubeTracker,
    crop_and_resize,
    face_box,
    iou,
    square_box,
    track_tubes,
    union_box,
)


def box(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.array([x1, y1, x2, y2], np.float32)


def test_iou_of_identical_disjoint_and_half_overlapping_boxes() -> None:
    a = box(0, 0, 10, 10)
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, box(20, 20, 30, 30)) == 0.0
    assert iou(a, box(5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou(a, box(5, 5, 5, 5)) == 0.0  # empty box


def test_union_box_contains_all_boxes() -> None:
    np.testing.assert_array_equal(union_box([box(0, 5, 10, 10), box(3, 0, 20, 8)]), box(0, 0, 20, 10))


def test_face_box_uses_landmarks_moved_up_and_falls_back_to_detector_box() -> None:
    landmarks = np.array([[10, 20], [50, 20], [30, 80]], np.float32)
    framed = face_box(Face(box(0, 0, 100, 100), 1.0, landmarks))
    shift = FOREHEAD_SHIFT * 60
    np.testing.assert_allclose(framed, [10, 20 - shift, 50, 80 - shift])
    np.testing.assert_array_equal(face_box(Face(box(1, 2, 3, 4), 1.0, None)), box(1, 2, 3, 4))


def test_square_box_is_centred_and_enlarged_by_increase_on_each_side() -> None:
    square = square_box(box(100, 100, 140, 120), (1000, 1000), increase=0.5)
    assert square.dtype == np.int64
    # larger side 40 -> 40 * (1 + 2 * 0.5) = 80, centred on (120, 110)
    np.testing.assert_array_equal(square, [80, 70, 160, 150])
    np.testing.assert_array_equal(square_box(box(100, 100, 140, 120), (1000, 1000), increase=0.0), [100, 90, 140, 130])


def test_square_box_shifts_inside_at_borders_and_shrinks_to_the_short_side() -> None:
    # near the top-left corner the square keeps its size and moves inside
    np.testing.assert_array_equal(square_box(box(0, 0, 40, 40), (500, 600), 0.5), [0, 0, 80, 80])
    # near the bottom-right corner too
    np.testing.assert_array_equal(square_box(box(560, 460, 600, 500), (500, 600), 0.5), [520, 420, 600, 500])
    # a face filling a landscape frame: the square shrinks to the frame's height
    np.testing.assert_array_equal(square_box(box(200, 0, 400, 200), (200, 600), 0.5), [200, 0, 400, 200])


def test_crop_and_resize_returns_the_region_at_the_requested_size() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 50:90] = 255
    out = crop_and_resize(image, np.array([50, 20, 90, 60]), 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert out.min() == 255  # exactly the white square, scaled up
    assert crop_and_resize(image, np.array([0, 0, 100, 100]), 10).shape == (10, 10, 3)
    with pytest.raises(ValueError, match="not inside"):
        crop_and_resize(image, np.array([150, 0, 250, 100]), 64)


def moving(start: np.ndarray, step: np.ndarray, frames: range) -> list[tuple[int, np.ndarray]]:
    return [(i, start + step * (i - frames.start)) for i in frames]


def test_two_faces_give_two_tubes_and_gaps_are_tolerated() -> None:
    left = dict(moving(box(10, 10, 60, 60), np.array([1, 0, 1, 0], np.float32), range(30)))
    right = dict(moving(box(200, 10, 250, 60), np.array([0, 1, 0, 1], np.float32), range(30)))
    detections = []
    for i in range(30):
        boxes = [right[i]]
        if not 10 <= i < 15:  # the left face is missed for five frames
            boxes.insert(0, left[i])
        detections.append((i, boxes))
    tubes = track_tubes(detections)
    assert len(tubes) == 2
    by_x = sorted(tubes, key=lambda t: t.box_union[0])
    assert [(t.start, t.end, t.detections) for t in by_x] == [(0, 29, 25), (0, 29, 30)]
    np.testing.assert_allclose(by_x[0].union(), [10, 10, 89, 60])


def test_a_long_gap_closes_the_tube_and_frames_may_be_skipped() -> None:
    face = box(10, 10, 60, 60)
    tubes = track_tubes([(0, [face]), (5, [face]), (10, [face]), (40, [face]), (45, [face])], TubeTracker(max_gap=12))
    assert [(t.start, t.end, t.length) for t in tubes] == [(0, 10, 11), (40, 45, 6)]


def test_a_face_moving_too_far_for_one_static_crop_starts_a_new_tube() -> None:
    # 50 px face moving 5 px per frame: the union reaches 1.6 x the face (80 px) after 6 frames
    detections = [(i, [b]) for i, b in moving(box(0, 0, 50, 50), np.array([5, 0, 5, 0], np.float32), range(20))]
    tubes = track_tubes(detections, TubeTracker(max_growth=1.6))
    assert len(tubes) > 1
    assert [t.start for t in tubes] == sorted(t.start for t in tubes)
    assert sum(t.detections for t in tubes) == 20  # every detection belongs to exactly one tube
    for tube in tubes:
        assert tube.union()[2] - tube.union()[0] <= 1.6 * 50
    # without a growth limit it is a single tube
    assert len(track_tubes(detections, TubeTracker(max_growth=float("inf")))) == 1


def test_frame_indices_must_increase() -> None:
    tracker = TubeTracker()
    tracker.update(3, [])
    with pytest.raises(ValueError, match="increase"):
        tracker.update(3, [])
