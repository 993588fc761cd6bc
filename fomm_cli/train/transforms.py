"""Random smooth warps for the equivariance losses (Sec. 3.3 of the paper): affine + thin-plate spline.

A warp maps coordinates z = (x, y) in [-1, 1] (x = column, pixel centres at 2 i / (n - 1) - 1):

    T(z) = A z + t + sum_p w_p U(|z - c_p|^2),   U(s) = s log(s) / 2  (= r^2 log r),

with A = I + N(0, sigma_affine), t ~ N(0, sigma_affine), control points c_p on a ``points_tps`` x
``points_tps`` grid and w_p ~ N(0, sigma_tps) per coordinate. ``warp_image`` resamples an image so that
the warped image at z shows the original at T(z); a keypoint found at z in the warped image therefore
belongs at T(z) in the original. The jacobian of T is analytic (no double backward needed).
"""

from __future__ import annotations

import torch

from fomm_cli.geometry import coordinate_grid, sample

_EPS = 1e-9  # inside the log: U and its gradient stay finite (and 0) at the control points


class RandomWarp:
    """A batch of random warps, one per image. Parameters are drawn from the global torch CPU RNG."""

    def __init__(self, batch: int, sigma_affine: float, sigma_tps: float = 0.0, points_tps: int = 0,
                 device: torch.device | str = "cpu") -> None:
        theta = torch.eye(2, 3).expand(batch, 2, 3) + sigma_affine * torch.randn(batch, 2, 3)
        self.theta = theta.to(device)  # B x 2 x 3: [A | t]
        self.control: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None
        if sigma_tps > 0 and points_tps > 0:
            self.control = coordinate_grid(points_tps, points_tps).view(-1, 2).to(device)  # P x 2
            self.weights = (sigma_tps * torch.randn(batch, points_tps**2, 2)).to(device)  # B x P x 2

    def _tps_terms(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Offsets z - c_p (B x N x P x 2) and squared distances (B x N x P)."""
        diff = points.unsqueeze(2) - self.control.to(points.dtype)  # type: ignore[union-attr]
        return diff, (diff**2).sum(-1)

    def warp_points(self, points: torch.Tensor) -> torch.Tensor:
        """T(z) for points B x N x 2 -> B x N x 2."""
        theta = self.theta.to(points.dtype)
        out = points @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)
        if self.weights is not None:
            _, sq = self._tps_terms(points)
            basis = 0.5 * sq * torch.log(sq + _EPS)  # B x N x P
            out = out + basis @ self.weights.to(points.dtype)
        return out

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """dT/dz at points B x N x 2 -> B x N x 2 x 2 (row = output coordinate)."""
        theta = self.theta.to(points.dtype)
        jac = theta[:, None, :, :2].expand(-1, points.shape[1], -1, -1)
        if self.weights is not None:
            diff, sq = self._tps_terms(points)
            # d/dz U(|z - c|^2) = (log s + 1) (z - c), with s / (s + eps) in place of 1 to stay smooth at s = 0.
            slope = torch.log(sq + _EPS) + sq / (sq + _EPS)  # B x N x P
            jac = jac + torch.einsum("bpc,bnp,bnpj->bncj", self.weights.to(points.dtype), slope, diff)
        return jac

    def warp_image(self, image: torch.Tensor) -> torch.Tensor:
        """Resample B x C x H x W so that output(z) = image(T(z)); borders are reflected."""
        b, _, h, w = image.shape
        grid = coordinate_grid(h, w, image.dtype, image.device).view(1, h * w, 2).expand(b, -1, -1)
        grid = self.warp_points(grid).view(b, h, w, 2)
        # align_corners=True matches the pixel-centre convention of coordinate_grid exactly.
        return sample(image, grid, padding_mode="reflection", align_corners=True)
