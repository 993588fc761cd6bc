"""Random smooth warps for the equivariance losses (Sec. 3.3 of the paper): affine + thin-plate spline.

A warp maps coordinates z = (x, y) in [-1, 1] (x = column, pixel centres at 2 i / (n - 1) - 1):

    T(z) = A z + t + s(z)

with A = I + N(0, sigma_affine), t ~ N(0, sigma_affine) and a thin-plate-spline term s over control points
c_p on a ``points_tps`` x ``points_tps`` grid (``coordinate_grid`` order: row by row, x fastest). Two forms:

- ``reference`` (the authors' ``Transform``, what the official configs were tuned with): one weight
  w_p ~ N(0, sigma_tps) per control point, the same displacement added to x and y,
  s(z) = (1, 1) * sum_p w_p d_p^2 log(d_p + 1e-6) with the L1 distance d_p = |x - c_px| + |y - c_py|.
- ``euclidean`` (fomm's earlier form): w_p ~ N(0, sigma_tps) in R^2 per control point and the classic
  radial basis, s(z) = sum_p w_p r_p^2 log r_p with the Euclidean r_p = |z - c_p|. At the configs'
  ``sigma_tps`` its displacements are about 2.7x weaker (RMS length 0.048 against 0.129).
- ``tpsmm`` (the Thin-Plate Spline Motion Model authors' ``TPS(mode='random')``): one weight per control point
  as in ``reference``, the same displacement added to x and y, with the Euclidean basis
  s(z) = (1, 1) * sum_p w_p r_p^2 log(r_p^2 + 1e-9).

``warp_image`` resamples an image so that the warped image at z shows the original at T(z); a keypoint
found at z in the warped image therefore belongs at T(z) in the original. Jacobians are analytic (no double
backward), and differentiable in the points as the reference's autograd jacobian is.
"""

from __future__ import annotations

from typing import Protocol

import torch

from fomm_cli.geometry import coordinate_grid, sample
from fomm_cli.train.config import TPS_FORMS

_REFERENCE_EPS = 1e-6  # the reference's log(d + 1e-6)
_EUCLIDEAN_EPS = 1e-9  # inside the log: U and its gradient stay finite (and 0) at the control points
_TPSMM_EPS = 1e-9  # the TPSMM reference's log(r^2 + 1e-9)


class RandomWarp:
    """A batch of warps, one per image, from explicit parameters (``sample`` draws random ones).

    theta: B x 2 x 3, [A | t]. tps_weights: B x P for the ``reference`` and ``tpsmm`` forms, B x P x 2 for
    ``euclidean``, with P = n * n control points; None for an affine warp.
    """

    def __init__(self, theta: torch.Tensor, tps_weights: torch.Tensor | None = None, tps: str = "reference") -> None:
        if tps not in TPS_FORMS:
            raise ValueError(f"tps must be one of {', '.join(TPS_FORMS)}, not {tps!r}")
        self.theta = theta
        self.tps = tps
        self.tps_weights = tps_weights
        self.control: torch.Tensor | None = None
        if tps_weights is not None:
            side = round(tps_weights.shape[1] ** 0.5)
            if side * side != tps_weights.shape[1] or tps_weights.ndim != (3 if tps == "euclidean" else 2):
                raise ValueError(f"tps_weights of shape {tuple(tps_weights.shape)} do not fit the {tps} form "
                                 "(B x P or B x P x 2 for a square grid of P control points)")
            self.control = coordinate_grid(side, side, theta.dtype, theta.device).reshape(-1, 2)  # P x 2

    @classmethod
    def sample(cls, batch: int, sigma_affine: float, sigma_tps: float, points_tps: int, tps: str,
               generator: torch.Generator, device: torch.device | str = "cpu") -> RandomWarp:
        """Random parameters from ``generator`` (a CPU generator: the same draws on every device)."""
        theta = torch.eye(2, 3) + sigma_affine * torch.randn(batch, 2, 3, generator=generator)
        weights = None
        if sigma_tps > 0 and points_tps > 0:
            shape = (batch, points_tps**2, 2) if tps == "euclidean" else (batch, points_tps**2)
            weights = (sigma_tps * torch.randn(*shape, generator=generator)).to(device)
        return cls(theta.to(device), weights, tps)

    def _basis(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Offsets z - c_p (B x N x P x 2), the basis values U (B x N x P) and dU/dz (B x N x P x 2)."""
        assert self.control is not None
        diff = points.unsqueeze(2) - self.control.to(points.dtype)
        if self.tps == "reference":
            dist = diff.abs().sum(-1)
            log = torch.log(dist + _REFERENCE_EPS)
            value = dist**2 * log
            # d/dd (d^2 log(d + eps)) times dd/dz = sign(z - c); sign(0) = 0 as autograd's |.| has it.
            slope = 2 * dist * log + dist**2 / (dist + _REFERENCE_EPS)
            return diff, value, slope.unsqueeze(-1) * torch.sign(diff)
        sq = (diff**2).sum(-1)
        if self.tps == "tpsmm":
            log = torch.log(sq + _TPSMM_EPS)
            # d/dz (s log(s + eps)) with s = |z - c|^2: (log(s + eps) + s / (s + eps)) 2 (z - c).
            slope = 2 * (log + sq / (sq + _TPSMM_EPS))
            return diff, sq * log, slope.unsqueeze(-1) * diff
        value = 0.5 * sq * torch.log(sq + _EUCLIDEAN_EPS)
        # d/dz U(|z - c|^2) = (log s + 1) (z - c), with s / (s + eps) in place of 1 to stay smooth at s = 0.
        slope = torch.log(sq + _EUCLIDEAN_EPS) + sq / (sq + _EUCLIDEAN_EPS)
        return diff, value, slope.unsqueeze(-1) * diff

    def warp_points(self, points: torch.Tensor) -> torch.Tensor:
        """T(z) for points B x N x 2 -> B x N x 2."""
        theta = self.theta.to(points.dtype)
        out = points @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)
        if self.tps_weights is None:
            return out
        _, basis, _ = self._basis(points)
        weights = self.tps_weights.to(points.dtype)
        if self.tps == "euclidean":
            return out + basis @ weights
        return out + (basis * weights.unsqueeze(1)).sum(-1, keepdim=True)

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """dT/dz at points B x N x 2 -> B x N x 2 x 2 (row = output coordinate)."""
        theta = self.theta.to(points.dtype)
        jac = theta[:, None, :, :2].expand(-1, points.shape[1], -1, -1)
        if self.tps_weights is None:
            return jac
        _, _, grad = self._basis(points)  # B x N x P x 2
        weights = self.tps_weights.to(points.dtype)
        if self.tps == "euclidean":
            return jac + torch.einsum("bpc,bnpj->bncj", weights, grad)
        row = torch.einsum("bp,bnpj->bnj", weights, grad)  # one displacement: both rows alike
        return jac + row.unsqueeze(2).expand(-1, -1, 2, -1)

    def warp_image(self, image: torch.Tensor, *, align_corners: bool) -> torch.Tensor:
        """Resample B x C x H x W so that output(z) = image(T(z)); borders are reflected.

        ``align_corners=False`` is the reference's (torch's default): its zero warp is not the identity but
        a zoom by n / (n - 1) around the centre. True reads coordinates as ``coordinate_grid`` writes them.
        """
        b, _, h, w = image.shape
        grid = coordinate_grid(h, w, image.dtype, image.device).view(1, h * w, 2).expand(b, -1, -1)
        grid = self.warp_points(grid).view(b, h, w, 2)
        return sample(image, grid, padding_mode="reflection", align_corners=align_corners)


class WarpSource(Protocol):
    """Where a training step gets its warps: random ones in training, given ones in tests."""

    def __call__(self, batch: int, device: torch.device) -> RandomWarp: ...


class WarpSampler:
    """Random warps drawn from ``generator``, a CPU ``torch.Generator`` of the caller's (the training loop
    saves its state in checkpoints, so a resumed run draws the warps the interrupted one would have)."""

    def __init__(self, sigma_affine: float, sigma_tps: float, points_tps: int, tps: str,
                 generator: torch.Generator) -> None:
        self.sigma_affine, self.sigma_tps, self.points_tps, self.tps = sigma_affine, sigma_tps, points_tps, tps
        self.generator = generator

    def __call__(self, batch: int, device: torch.device) -> RandomWarp:
        return RandomWarp.sample(batch, self.sigma_affine, self.sigma_tps, self.points_tps, self.tps,
                                 self.generator, device)
