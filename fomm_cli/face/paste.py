"""Paste an animated face crop back into the full-resolution source image.

The crop is resized to its box and blended with a feathered rectangular mask: 1 in the middle, ramping
smoothly to 0 at the box edges, so there is no visible seam and every pixel outside the box is the
untouched source. A rectangle (not an ellipse around the face) because face models move the whole
head, hair included, and an ellipse would leave the source's hair next to the animated one.
"""

from __future__ import annotations

import functools

import numpy as np

# Width of the blending ramp as a fraction of the box side.
DEFAULT_FEATHER = 0.1


@functools.lru_cache(maxsize=8)  # one mask per video: every frame is pasted into the same box
def feather_mask(height: int, width: int, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """Read-only float32 (height, width) weights in (0, 1]: a smoothstep ramp over ``feather`` of each side."""

    def ramp(n: int) -> np.ndarray:
        centres = np.arange(n, dtype=np.float32) + 0.5
        distance = np.minimum(centres, n - centres)  # to the nearest edge, in pixels
        t = np.clip(distance / max(feather * n, 1e-6), 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    mask = np.outer(ramp(height), ramp(width)).astype(np.float32)
    mask.setflags(write=False)
    return mask


def paste_back(
    full_image: np.ndarray, animated_crop: np.ndarray, box: np.ndarray, feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """Blend ``animated_crop`` (uint8 S x S x 3) into a copy of ``full_image`` (uint8 H x W x 3) at ``box``.

    ``box`` is the integer ``[x1, y1, x2, y2]`` crop box the source crop was cut from (inside the image).
    Returns a new uint8 H x W x 3 image; pixels outside the box are bit-identical to ``full_image``.
    """
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    height, width = full_image.shape[:2]
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(f"paste box {[x1, y1, x2, y2]} is not inside an image of shape {full_image.shape}")
    bw, bh = x2 - x1, y2 - y1
    shrinking = animated_crop.shape[0] > bh
    resized = cv2.resize(
        animated_crop, (bw, bh), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    ).astype(np.float32)
    region = full_image[y1:y2, x1:x2].astype(np.float32)
    alpha = feather_mask(bh, bw, feather)[..., None]
    blended = region + (resized - region) * alpha
    out = full_image.copy()
    out[y1:y2, x1:x2] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
