"""Find the driving frame whose face pose best matches the source (the ``find_best_frame`` setting).

Relative animation transfers motion measured from a reference driving frame, so starting from the frame
that looks most like the source avoids a jump at the first output frame. Poses are compared through the
68 landmarks, centred and scaled by the square root of their convex-hull area so that only the shape
(head pose, expression) counts, not where or how large the face is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from fomm_cli.face.backends import FaceBackend


def normalized_landmarks(landmarks: np.ndarray) -> np.ndarray | None:
    """float64 (N, 2) landmarks centred on their mean and divided by sqrt(convex-hull area).

    None when the points are degenerate (collinear or coincident), where the scale is undefined.
    """
    import cv2

    points = np.asarray(landmarks, np.float64)[:, :2]
    centred = points - points.mean(axis=0, keepdims=True)
    area = float(cv2.contourArea(cv2.convexHull(centred.astype(np.float32))))
    spread = float(np.abs(centred).max()) if centred.size else 0.0
    if not area > 1e-6 * max(spread, 1e-12) ** 2:
        return None
    return centred / math.sqrt(area)


def landmark_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of squared differences between two normalised landmark sets."""
    return float(((a - b) ** 2).sum())


def _reference(source: np.ndarray, backend: FaceBackend) -> np.ndarray | None:
    if source.ndim == 2:  # already landmarks
        return normalized_landmarks(source)
    faces = backend.detect(source)
    if not faces or faces[0].landmarks is None:
        return None
    return normalized_landmarks(faces[0].landmarks)


def find_best_frame(source: np.ndarray, frames: Iterable[np.ndarray], backend: FaceBackend) -> tuple[int | None, float]:
    """(index of the driving frame closest in pose to the source, its distance).

    ``source``: the source's landmarks (68, 2) in pixels, or the source image (uint8 H x W x 3) to detect
    them in. ``frames``: uint8 driving frames, consumed once (streaming; nothing is kept). Frames without
    a face are skipped; the largest face of a frame is used. Returns ``(None, inf)`` when the source or
    every frame has no usable face.
    """
    reference = _reference(np.asarray(source), backend)
    if reference is None:
        return None, math.inf
    best_index: int | None = None
    best_distance = math.inf
    for index, frame in enumerate(frames):
        faces = backend.detect(frame)
        if not faces or faces[0].landmarks is None:
            continue
        normalized = normalized_landmarks(faces[0].landmarks)
        if normalized is None or normalized.shape != reference.shape:
            continue
        distance = landmark_distance(normalized, reference)
        if distance < best_distance:
            best_index, best_distance = index, distance
    return best_index, best_distance
