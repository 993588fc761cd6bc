"""The user's controls over the motion, checked without torch (the job's options check them before any
heavy import; the core checks them again for library callers): smoothing strength and motion scale."""

from __future__ import annotations

import math

from fomm_cli.errors import InvalidSetting

DEFAULT_STRENGTH = 3.0
"""Frames. On slowly moving keypoints with white jitter it cuts the frame-to-frame jitter to about 0.4 of
what it was, whatever the jitter's size, and follows a step of 10 jitter deviations to 90 % within 2 frames
(benchmarks/motion_smoothing.py)."""

MAX_MOTION_SCALE = 10.0
"""Beyond 10 times the motion, an ordinary head movement (0.1 in [-1, 1] units) leaves the image."""


def check_strength(strength: float) -> float:
    """``strength`` as a float if it is a finite number >= 0, else InvalidSetting."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidSetting("smoothing", strength, "a number of frames >= 0")
    return value


def check_motion_scale(motion_scale: float) -> float:
    """``motion_scale`` as a float if it is a finite number in [0, MAX_MOTION_SCALE], else InvalidSetting."""
    try:
        value = float(motion_scale)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= MAX_MOTION_SCALE:
        raise InvalidSetting("motion_scale", motion_scale, f"a number from 0 to {MAX_MOTION_SCALE:g}")
    return value
