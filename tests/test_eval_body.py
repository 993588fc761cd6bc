"""Body joints: the mediapipe -> COCO-18 mapping with missing joints, and the extractor when mediapipe
(an optional extra that pins numpy < 2) is or is not installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from fomm_cli.evaluate import metrics
from fomm_cli.evaluate.extractors import COCO18_JOINTS, BodyExtractors, coco18_from_mediapipe

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


def _landmarks() -> np.ndarray:
    """33 visible landmarks spread inside a 100 x 50 frame."""
    out = np.zeros((33, 3))
    out[:, 0] = np.linspace(0.1, 0.9, 33)
    out[:, 1] = np.linspace(0.2, 0.8, 33)
    out[:, 2] = 0.9
    return out


def test_coco18_mapping_marks_unseen_joints_missing() -> None:
    landmarks = _landmarks()
    landmarks[14, 2] = 0.2  # right elbow hidden
    landmarks[28, 0] = 1.3  # right ankle outside the frame (mediapipe extrapolates it)
    landmarks[13, 2] = 0.7  # left elbow just visible
    joints = coco18_from_mediapipe(landmarks, width=100, height=50)
    assert joints.shape == (len(COCO18_JOINTS), 2)
    index = {name: i for i, name in enumerate(COCO18_JOINTS)}
    assert np.isnan(joints[index["right_elbow"]]).all()
    assert np.isnan(joints[index["right_ankle"]]).all()
    np.testing.assert_allclose(joints[index["left_elbow"]], landmarks[13, :2] * (100, 50))
    np.testing.assert_allclose(joints[index["nose"]], landmarks[0, :2] * (100, 50))
    shoulders = landmarks[[11, 12], :2].mean(axis=0) * (100, 50)
    np.testing.assert_allclose(joints[index["neck"]], shoulders)
    assert np.isnan(joints).any(axis=1).sum() == 2


def test_neck_needs_both_shoulders() -> None:
    landmarks = _landmarks()
    landmarks[11, 2] = 0.0
    joints = coco18_from_mediapipe(landmarks, width=100, height=50)
    assert np.isnan(joints[COCO18_JOINTS.index("neck")]).all()
    assert np.isnan(joints[COCO18_JOINTS.index("left_shoulder")]).all()


def test_mkr_of_a_generated_frame_that_lost_joints() -> None:
    real = coco18_from_mediapipe(_landmarks(), 100, 50)
    lost = _landmarks()
    lost[[14, 16], 2] = 0.0  # right elbow and wrist vanish in the generated frame
    generated = coco18_from_mediapipe(lost, 100, 50)
    assert metrics.mkr_per_frame(real[None], generated[None])[0] == pytest.approx(2 / 18)
    assert metrics.akd_per_frame(real[None], generated[None])[0] == 0


@pytest.mark.skipif(HAS_MEDIAPIPE, reason="mediapipe is installed")
def test_without_mediapipe_body_metrics_are_reported_unavailable() -> None:
    extractors = BodyExtractors()
    assert extractors.sources == {}
    assert "fomm-cli[body]" in extractors.unavailable["akd"]
    assert set(extractors.unavailable) == {"akd", "mkr", "aed"}
    frame = np.zeros((8, 8, 3), np.uint8)
    assert extractors.pair(frame, frame).real_kp is None


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="mediapipe (the 'body' extra) is not installed")
def test_mediapipe_finds_the_astronaut_and_nothing_in_a_blank_frame() -> None:
    skimage_data = pytest.importorskip("skimage.data")
    photo = np.ascontiguousarray(skimage_data.astronaut()[::2, ::2])  # 256 x 256 upper body
    extractors = BodyExtractors()
    try:
        assert "mediapipe" in extractors.sources["akd"]
        assert "aed" in extractors.unavailable
        same = extractors.pair(photo, photo)
        seen = ~np.isnan(same.real_kp).any(axis=1)
        assert seen[COCO18_JOINTS.index("nose")] and seen[COCO18_JOINTS.index("neck")]
        assert metrics.akd_per_frame(same.real_kp[None], same.generated_kp[None])[0] == 0
        blank = extractors.pair(photo, np.zeros_like(photo))
        assert metrics.mkr_per_frame(blank.real_kp[None], blank.generated_kp[None])[0] == 1
    finally:
        extractors.close()
