"""Motion transfer between keypoint sets (paper appendix A.3). Pure tensor math, no I/O.

Relative transfer moves the source keypoints by the driving video's motion since a reference frame,
instead of copying the driving keypoints (absolute transfer), so the source keeps its own shape:

    value    = kp_source + s (kp_driving - kp_reference)
    jacobian = J_driving J_reference^-1 J_source

``s`` (adapted movement scale) = sqrt(area(hull(kp_source))) / sqrt(area(hull(kp_reference))), which
compensates for the object being larger or smaller in the source than in the driving video.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fomm_cli.models.keypoints import Keypoints


def convex_hull_area(points: np.ndarray | torch.Tensor) -> float:
    """Area of the convex hull of N x 2 points (monotone chain, float64). 0 for degenerate sets."""
    pts = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
    pts = np.unique(pts, axis=0)
    if len(pts) < 3:
        return 0.0

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    def half(seq: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for p in seq:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    order = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    hull = half(order)[:-1] + half(order[::-1])[:-1]
    x, y = np.array([p[0] for p in hull]), np.array([p[1] for p in hull])
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def movement_scale(kp_source: Keypoints, kp_reference: Keypoints) -> float:
    """sqrt(hull area of the source keypoints / hull area of the reference driving keypoints), first item
    of each batch; 1 when either hull is degenerate."""
    source_area = convex_hull_area(kp_source.value[0])
    reference_area = convex_hull_area(kp_reference.value[0])
    if source_area <= 0 or reference_area <= 0:
        return 1.0
    return math.sqrt(source_area) / math.sqrt(reference_area)


def transfer_keypoints(kp_source: Keypoints, kp_driving: Keypoints, kp_reference: Keypoints, *,
                       relative: bool = True, relative_jacobian: bool = True, scale: float = 1.0) -> Keypoints:
    """Keypoints that drive the source.

    kp_source, kp_reference: batch of 1 (broadcast); kp_driving: batch of B frames. With ``relative`` False
    the driving keypoints are used as they are (absolute transfer; ``scale`` is ignored).
    """
    if not relative:
        return kp_driving
    value = (kp_driving.value - kp_reference.value) * scale + kp_source.value
    jacobian = kp_driving.jacobian
    if relative_jacobian and jacobian is not None and kp_source.jacobian is not None:
        assert kp_reference.jacobian is not None
        jacobian = torch.matmul(torch.matmul(jacobian, torch.inverse(kp_reference.jacobian)), kp_source.jacobian)
    return Keypoints(value, jacobian)
