"""Motion transfer between keypoint sets (paper appendix A.3). Pure tensor math, no I/O.

Relative transfer moves the source keypoints by the driving video's motion since a reference frame,
instead of copying the driving keypoints (absolute transfer), so the source keeps its own shape:

    value    = kp_source + m s (kp_driving - kp_reference)
    jacobian = scale_jacobian(J_driving J_reference^-1, m) J_source

``s`` (adapted movement scale) = sqrt(area(hull(kp_source))) / sqrt(area(hull(kp_reference))), which
compensates for the object being larger or smaller in the source than in the driving video. ``m`` (motion
scale) weakens (< 1) or exaggerates (> 1) the motion; m = 1 is the paper's transfer, computed exactly as
before, and m = 0 gives the source keypoints themselves. The jacobian's motion is scaled in its polar
decomposition (``scale_jacobian``: m times the rotation angle, the stretch to the power m), so the result is an
invertible 2 x 2 matrix for every m.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from fomm_cli.controls import check_motion_scale
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


# ------------------------------------------------------------------------------- jacobians, log-polar


def jacobian_to_log_polar(jacobian: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-polar parameters of ... x 2 x 2 matrices: (params ... x 4, flip ... bool).

    Every invertible J factors as J = R(theta) P F, with R a rotation, P symmetric positive definite (the
    polar decomposition) and F = diag(1, -1) where det J < 0 (``flip``), the identity otherwise.
    params = (theta, mu, u, v) with log P = mu I + [[u, v], [v, -u]]: theta in radians (-pi, pi],
    mu = log|det J| / 2, and hypot(u, v) = log sqrt(condition number). These coordinates are unconstrained:
    any finite params map back (``log_polar_to_jacobian``) to an invertible matrix with det sign set by
    ``flip``, which is what makes averaging and scaling them safe. Closed form, elementwise; a singular
    input is treated as having |det| = the smallest normal float.
    """
    a, b, c, d = jacobian[..., 0, 0], jacobian[..., 0, 1], jacobian[..., 1, 0], jacobian[..., 1, 1]
    det = a * d - b * c
    flip = det < 0
    b, d = torch.where(flip, -b, b), torch.where(flip, -d, d)  # J F: negate the second column
    # J F = conformal [[e, -f], [f, e]] + anti-conformal [[g, k], [k, -g]]; its singular values are
    # hypot(e, f) +- hypot(g, k), its polar rotation angle atan2(f, e).
    e, f, g, k = (a + d) / 2, (c - b) / 2, (a - d) / 2, (b + c) / 2
    theta = torch.atan2(f, e)
    conformal, anti = torch.hypot(e, f), torch.hypot(g, k)
    largest = conformal + anti
    smallest = det.abs().clamp_min(torch.finfo(det.dtype).tiny) / largest  # stabler than conformal - anti
    mu = (largest.log() + smallest.log()) / 2
    rho = (largest.log() - smallest.log()) / 2
    # The stretch direction: (g, k) rotated by -theta, normalised; none for a conformal map (anti == 0).
    norm = conformal * anti
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    u = torch.where(norm > 0, rho * (e * g + f * k) / safe, torch.zeros_like(rho))
    v = torch.where(norm > 0, rho * (e * k - f * g) / safe, torch.zeros_like(rho))
    return torch.stack([theta, mu, u, v], dim=-1), flip


def log_polar_to_jacobian(params: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """... x 2 x 2 matrices R(theta) exp(mu I + [[u, v], [v, -u]]) F from ``jacobian_to_log_polar``'s
    coordinates. det = +-exp(2 mu) (sign from ``flip``), condition number exp(2 hypot(u, v))."""
    theta, mu, u, v = params.unbind(-1)
    rho = torch.hypot(u, v)
    positive = rho > 0
    safe = torch.where(positive, rho, torch.ones_like(rho))
    cx = torch.where(positive, u / safe, torch.ones_like(u))
    cy = torch.where(positive, v / safe, torch.zeros_like(v))
    large, small = torch.exp(mu + rho), torch.exp(mu - rho)  # eigenvalues of P
    mean, half = (large + small) / 2, (large - small) / 2
    p00, p01, p11 = mean + half * cx, half * cy, mean - half * cx
    cos, sin = torch.cos(theta), torch.sin(theta)
    n00, n01 = cos * p00 - sin * p01, cos * p01 - sin * p11
    n10, n11 = sin * p00 + cos * p01, sin * p01 + cos * p11
    n01, n11 = torch.where(flip, -n01, n01), torch.where(flip, -n11, n11)
    return torch.stack([torch.stack([n00, n01], -1), torch.stack([n10, n11], -1)], -2)


def scale_jacobian(jacobian: torch.Tensor, factor: float) -> torch.Tensor:
    """t times the motion of ... x 2 x 2 matrices J = R(theta) P F: R(t theta) P^t F, polar interpolation
    from the identity (t = 0) to J (t = 1) and extrapolation beyond (Shoemake and Duff, "Matrix animation
    and polar decomposition", 1992).

    t = 1 returns ``jacobian`` itself, t = 0 the identity. For every finite t the result is invertible
    (|det| = |det J|^t, the sign of det J) and cond = cond(J)^t, so for t in [0, 1] it is no worse conditioned
    than J. It equals the matrix power J^t when R and P commute (rotations, uniform scalings, symmetric
    positive-definite J). A reflection (det < 0, F) cannot be scaled continuously (any path from it to the
    identity crosses a singular matrix); it is kept for every t > 0.
    """
    if factor == 1:
        return jacobian
    if factor == 0:
        return torch.eye(2, dtype=jacobian.dtype, device=jacobian.device).expand(jacobian.shape).clone()
    params, flip = jacobian_to_log_polar(jacobian)
    return log_polar_to_jacobian(params * factor, flip)


# ------------------------------------------------------------------------------------------ transfer


def transfer_keypoints(kp_source: Keypoints, kp_driving: Keypoints, kp_reference: Keypoints, *,
                       relative: bool = True, relative_jacobian: bool = True, scale: float = 1.0,
                       motion_scale: float = 1.0) -> Keypoints:
    """Keypoints that drive the source.

    kp_source, kp_reference: batch of 1 (broadcast); kp_driving: batch of B frames. With ``relative`` False
    the driving keypoints are used as they are (absolute transfer; ``scale`` is ignored). ``motion_scale``
    (m, see the module docstring) scales the motion after the adapted scale; in absolute mode the motion is
    the one from the source's keypoints to the driving ones, so m = 0 again gives the source and
    m = 1 the driving keypoints. m = 1 computes exactly what it did before motion_scale existed.
    """
    if motion_scale == 1:
        if not relative:
            return kp_driving
        value = (kp_driving.value - kp_reference.value) * scale + kp_source.value
        jacobian = kp_driving.jacobian
        if relative_jacobian and jacobian is not None and kp_source.jacobian is not None:
            assert kp_reference.jacobian is not None
            jacobian = torch.matmul(torch.matmul(jacobian, torch.inverse(kp_reference.jacobian)),
                                    kp_source.jacobian)
        return Keypoints(value, jacobian)

    base = kp_reference if relative else kp_source
    value = (kp_driving.value - base.value) * (scale if relative else 1.0) * motion_scale + kp_source.value
    jacobian = kp_driving.jacobian
    if jacobian is not None and kp_source.jacobian is not None:
        # The motion's jacobian, from the source (absolute) or the reference (relative) frame to the driving one.
        if relative and relative_jacobian:
            assert kp_reference.jacobian is not None
            motion = torch.matmul(jacobian, torch.inverse(kp_reference.jacobian))
        else:
            motion = torch.matmul(jacobian, torch.inverse(kp_source.jacobian))
        jacobian = torch.matmul(scale_jacobian(motion, motion_scale), kp_source.jacobian)
    return Keypoints(value, jacobian)


class MotionTransfer:
    """Per-video motion state: maps batches of driving keypoints to the keypoints that drive the source.

    kp_source, kp_reference: batch of 1. ``scale`` (the adapted movement scale) is fixed once from the
    reference frame; ``smoother`` (e.g. ``fomm_cli.smoothing.KeypointSmoother``), if given, filters the
    driving keypoints in time before the transfer and keeps its state across calls, so batches must
    arrive in frame order and a new video needs a new MotionTransfer.
    """

    def __init__(self, kp_source: Keypoints, kp_reference: Keypoints, *, relative: bool = True,
                 adapt_scale: bool = True, motion_scale: float = 1.0,
                 smoother: Callable[[Keypoints], Keypoints] | None = None) -> None:
        self.kp_source, self.kp_reference = kp_source, kp_reference
        self.relative = relative
        self.motion_scale = check_motion_scale(motion_scale)
        self.scale = movement_scale(kp_source, kp_reference) if adapt_scale and relative else 1.0
        self.smoother = smoother

    def __call__(self, kp_driving: Keypoints) -> Keypoints:
        """B driving frames' keypoints (the next B frames of the video) -> B sets of keypoints for the source."""
        if self.smoother is not None:
            kp_driving = self.smoother(kp_driving)
        return transfer_keypoints(self.kp_source, kp_driving, self.kp_reference, relative=self.relative,
                                  relative_jacobian=self.relative, scale=self.scale,
                                  motion_scale=self.motion_scale)
