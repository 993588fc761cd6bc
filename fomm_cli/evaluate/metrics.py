"""Video-reconstruction metrics, pure numpy: per-frame values first, averages second.

Each ``*_per_frame`` function returns a float64 array with one value per frame and NaN for a frame that
the metric skips (no keypoint or no face to compare). ``pooled_mean`` then averages the non-NaN values.

Conventions follow the authors' evaluation code so numbers compare with papers:
- L1 is ``reconstruction.py`` of first-order-model; AKD for faces is ``cmp_kp.py``; AKD and MKR for bodies
  are ``cmp_with_missing.py``; AED is ``cmp.py`` (all in AliaksandrSiarohin/pose-evaluation).
- Every script collects one value per frame over *all* videos and takes a single mean of that list, so a
  dataset value is the mean over all scored frames pooled together (long videos weigh more), not a mean of
  per-video means. ``pooled_mean`` over the concatenated per-frame arrays reproduces that.
- Keypoints are (N, 2) arrays of (x, y) pixel coordinates at the resolution the frames were scored at;
  a missing keypoint is a row of NaN (pose-evaluation writes -1 instead; NaN cannot collide with a real
  coordinate). A face with no detection is all-NaN: it is "missing" as a whole.
"""

from __future__ import annotations

import numpy as np


def l1_per_frame(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Mean absolute difference per frame, pixel values in [0, 1].

    real, generated: T x H x W x C, uint8 (divided by 255) or float already in [0, 1]. Returns (T,).
    The mean runs over every pixel and channel of a frame, as ``torch.abs(prediction - driving).mean()``
    in first-order-model's reconstruction mode, which scored the float prediction (``fomm eval`` does too
    when it runs the model; saved videos can only be scored as uint8 frames).
    """
    real_f, gen_f = _unit_range(real), _unit_range(generated)
    if real_f.shape != gen_f.shape:
        raise ValueError(f"frame arrays differ in shape: {real_f.shape} vs {gen_f.shape}")
    return np.abs(real_f - gen_f).reshape(real_f.shape[0], -1).mean(axis=1)


def akd_per_frame(real_kp: np.ndarray, generated_kp: np.ndarray) -> np.ndarray:
    """Average keypoint distance per frame, in pixels.

    real_kp, generated_kp: T x N x 2 (x, y), NaN rows for missing keypoints. Per frame: the mean of the
    absolute coordinate differences |dx| and |dy| (coordinate-wise, not Euclidean) over the keypoints
    present in both frames. NaN (skipped) when no keypoint is present in both.

    This one rule gives both reference definitions: for faces (all 68 landmarks or none) it is the mean
    over all 136 coordinates, skipping frames whose generated face was not detected (``cmp_kp.py``; a real
    frame without a face crashed that script, here it is skipped too); for bodies it is the mean over the
    joints detected in both frames (``cmp_with_missing.py``).
    """
    real_kp, generated_kp = _check_keypoints(real_kp, generated_kp)
    both = _present(real_kp) & _present(generated_kp)
    diff = np.abs(real_kp - generated_kp)  # NaN wherever either side is missing
    count = both.sum(axis=1) * 2
    total = np.where(both[..., None], diff, 0.0).sum(axis=(1, 2))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def mkr_per_frame(real_kp: np.ndarray, generated_kp: np.ndarray) -> np.ndarray:
    """Missing keypoint rate per frame, in [0, 1].

    real_kp, generated_kp: T x N x 2, NaN rows for missing keypoints. Per frame: the number of keypoints
    present in the real frame but missing in the generated one, divided by the number present in the
    real frame (``cmp_with_missing.py``). NaN (skipped) when the real frame has no keypoint.
    Keypoints found only in the generated frame do not count.
    """
    real_kp, generated_kp = _check_keypoints(real_kp, generated_kp)
    real_present = _present(real_kp)
    lost = (real_present & ~_present(generated_kp)).sum(axis=1)
    count = real_present.sum(axis=1)
    return np.where(count > 0, lost / np.maximum(count, 1), np.nan)


def aed_per_frame(real_id: np.ndarray, generated_id: np.ndarray) -> np.ndarray:
    """Average Euclidean distance term per frame: the *squared* Euclidean distance between identity
    embeddings, ``sum((a - b) ** 2)`` with no square root, as ``cmp.py`` computed the published numbers.

    real_id, generated_id: T x D; a row with any NaN (no identity for that frame) gives NaN (skipped).
    """
    real_id = np.asarray(real_id, dtype=np.float64)
    generated_id = np.asarray(generated_id, dtype=np.float64)
    if real_id.shape != generated_id.shape or real_id.ndim != 2:
        raise ValueError(f"expected two T x D embedding arrays, got {real_id.shape} and {generated_id.shape}")
    return ((real_id - generated_id) ** 2).sum(axis=1)  # NaN propagates: a missing embedding is skipped


def pooled_mean(per_frame: np.ndarray | list[np.ndarray]) -> tuple[float | None, int]:
    """Mean of the non-NaN values (all frames of all videos pooled) and how many there were.

    Returns (None, 0) when every frame was skipped, so callers report "not available" instead of NaN.
    """
    values = np.concatenate([np.ravel(a) for a in per_frame]) if isinstance(per_frame, list) else np.ravel(per_frame)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None, 0
    return float(values.mean()), int(values.size)


def _unit_range(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames.astype(np.float64) / 255.0
    return frames.astype(np.float64)


def _check_keypoints(real_kp: np.ndarray, generated_kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real_kp = np.asarray(real_kp, dtype=np.float64)
    generated_kp = np.asarray(generated_kp, dtype=np.float64)
    if real_kp.shape != generated_kp.shape or real_kp.ndim != 3 or real_kp.shape[2] != 2:
        raise ValueError(f"expected two T x N x 2 keypoint arrays, got {real_kp.shape} and {generated_kp.shape}")
    return real_kp, generated_kp


def _present(kp: np.ndarray) -> np.ndarray:
    """T x N mask: both coordinates known."""
    return ~np.isnan(kp).any(axis=2)
