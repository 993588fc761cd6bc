"""Thin-plate splines between point sets (paper Eq. 2), batched.

A spline f maps (x, y) in [-1, 1] to (x, y): f(p) = A p + t + sum_i w_i U(|p - c_i|^2) with U(r2) = r2 log r2,
fitted so that f(c_i) = target_i for N control points c_i (a ridge of 0.01 on the system's diagonal keeps
near-coincident points solvable). The model fits one spline per group of 5 keypoints, from the driving
keypoints (control) to the source keypoints (targets): the spline tells each driving pixel where to sample
the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RIDGE = 0.01
_EPS = 1e-9  # inside the log: U(0) = 0 without a NaN


def _radial(r2: torch.Tensor) -> torch.Tensor:
    return r2 * torch.log(r2 + _EPS)


@dataclass(frozen=True)
class ThinPlateSpline:
    """Fitted splines, any leading batch shape ``...``.

    control: ... x N x 2 control points; affine: ... x 2 x 3 ([A | t]); weights: ... x N x 2 radial weights.
    """

    control: torch.Tensor
    affine: torch.Tensor
    weights: torch.Tensor

    @staticmethod
    def fit(control: torch.Tensor, target: torch.Tensor) -> ThinPlateSpline:
        """Splines with f(control) = target (up to the ridge); both ... x N x 2."""
        n = control.shape[-2]
        # |c_i - c_j| squared, as norm then square (the reference's rounding).
        k = _radial(torch.linalg.vector_norm(control[..., :, None, :] - control[..., None, :, :], dim=-1) ** 2)
        p = torch.cat([control, control.new_ones(*control.shape[:-1], 1)], dim=-1)  # ... x N x 3
        top = torch.cat([k, p], dim=-1)
        bottom = torch.cat([p.transpose(-1, -2), p.new_zeros(*p.shape[:-2], 3, 3)], dim=-1)
        system = torch.cat([top, bottom], dim=-2) + RIDGE * torch.eye(n + 3, dtype=p.dtype, device=p.device)
        rhs = torch.cat([target, target.new_zeros(*target.shape[:-2], 3, 2)], dim=-2)
        # Explicit inverse, as the reference computes it (a solve rounds differently on near-singular systems).
        params = torch.linalg.inv(system) @ rhs
        return ThinPlateSpline(control, params[..., n:, :].transpose(-1, -2), params[..., :n, :])

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Evaluate at points P x 2 (the same points for every spline) -> ... x P x 2."""
        linear = points @ self.affine[..., :2].transpose(-1, -2) + self.affine[..., None, :, 2]
        r2 = ((points[..., None, :, :] - self.control[..., :, None, :]) ** 2).sum(-1)  # ... x N x P
        return linear + _radial(r2).transpose(-1, -2) @ self.weights
