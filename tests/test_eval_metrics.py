"""The metric definitions on constructed arrays, where the expected value is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.evaluate import metrics

NAN = np.nan


def test_l1_is_exact_on_constructed_frames() -> None:
    real = np.zeros((3, 4, 5, 3), np.uint8)
    generated = real.copy()
    generated[0] = 51  # |0 - 51| / 255 = 0.2 everywhere
    generated[1, :2] = 255  # half of the frame differs by 1
    per_frame = metrics.l1_per_frame(real, generated)
    np.testing.assert_allclose(per_frame, [0.2, 0.5, 0.0], atol=1e-12)
    # float frames are taken as already in [0, 1]
    np.testing.assert_allclose(metrics.l1_per_frame(real / 255.0, generated / 255.0), per_frame, atol=1e-12)
    with pytest.raises(ValueError):
        metrics.l1_per_frame(real, generated[:, :2])


def test_akd_is_coordinate_wise_mean_not_euclidean() -> None:
    real = np.zeros((1, 2, 2))
    generated = np.array([[[3.0, 4.0], [0.0, 0.0]]])  # Euclidean 5 for the first point
    # (|3| + |4| + 0 + 0) / 4 coordinates
    np.testing.assert_allclose(metrics.akd_per_frame(real, generated), [7 / 4])


def test_akd_skips_frames_without_generated_detection_and_uses_common_points() -> None:
    real = np.array([
        [[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]],
        [[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]],
        [[NAN, NAN], [NAN, NAN], [NAN, NAN]],
    ])
    generated = np.array([
        [[NAN, NAN], [NAN, NAN], [NAN, NAN]],  # no detection: frame skipped (cmp_kp.py)
        [[1.0, 3.0], [NAN, NAN], [20.0, 22.0]],  # body: only joints present in both count
        [[5.0, 5.0], [5.0, 5.0], [5.0, 5.0]],  # nothing real to compare with: skipped
    ])
    per_frame = metrics.akd_per_frame(real, generated)
    assert np.isnan(per_frame[0]) and np.isnan(per_frame[2])
    assert per_frame[1] == pytest.approx((1 + 3 + 0 + 2) / 4)
    assert metrics.pooled_mean(per_frame) == (pytest.approx(1.5), 1)


def test_mkr_on_constructed_keypoints_with_missing_points() -> None:
    real = np.array([
        [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [NAN, NAN]],  # 3 real joints
        [[1.0, 1.0], [NAN, NAN], [NAN, NAN], [NAN, NAN]],  # 1 real joint
        [[NAN, NAN], [NAN, NAN], [NAN, NAN], [NAN, NAN]],  # none: frame skipped
    ])
    generated = np.array([
        [[1.0, 1.0], [NAN, NAN], [NAN, NAN], [4.0, 4.0]],  # 2 of 3 lost; an extra joint does not count
        [[1.0, 1.0], [2.0, 2.0], [NAN, NAN], [NAN, NAN]],  # nothing lost
        [[1.0, 1.0], [NAN, NAN], [NAN, NAN], [NAN, NAN]],
    ])
    per_frame = metrics.mkr_per_frame(real, generated)
    np.testing.assert_allclose(per_frame[:2], [2 / 3, 0.0])
    assert np.isnan(per_frame[2])
    value, frames = metrics.pooled_mean(per_frame)
    assert frames == 2 and value == pytest.approx(1 / 3)


def test_aed_is_squared_distance_and_skips_missing_embeddings() -> None:
    real = np.array([[0.0, 0.0], [1.0, 1.0], [NAN, NAN]])
    generated = np.array([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]])
    per_frame = metrics.aed_per_frame(real, generated)
    np.testing.assert_allclose(per_frame[:2], [25.0, 0.0])  # 3^2 + 4^2, no square root
    assert np.isnan(per_frame[2])


def test_pooled_mean_weighs_frames_not_videos() -> None:
    short, long = np.array([1.0]), np.array([0.0, 0.0, 0.0])
    assert metrics.pooled_mean([short, long]) == (pytest.approx(0.25), 4)  # not (1 + 0) / 2
    assert metrics.pooled_mean([np.array([NAN, NAN])]) == (None, 0)


def test_identical_inputs_score_zero() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    kp = rng.uniform(0, 64, (4, 18, 2))
    kp[1, 3] = NAN
    ids = rng.normal(size=(4, 128))
    assert metrics.l1_per_frame(frames, frames).max() == 0
    assert np.nanmax(metrics.akd_per_frame(kp, kp)) == 0
    assert np.nanmax(metrics.mkr_per_frame(kp, kp)) == 0
    assert metrics.aed_per_frame(ids, ids).max() == 0
