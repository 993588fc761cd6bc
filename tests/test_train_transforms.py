"""Random affine + TPS warps and the losses built on them."""

from __future__ import annotations

import torch

from fomm_cli.models.keypoints import Keypoints
from fomm_cli.train.losses import (
    ImagePyramid,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    inverse_2x2,
    pyramid_l1_loss,
)
from fomm_cli.train.transforms import RandomWarp


def _blob(center: torch.Tensor, size: int, sigma: float = 0.06) -> torch.Tensor:
    """1 x 1 x size x size Gaussian at ``center`` = (x, y) in [-1, 1] (pixel-centre convention)."""
    axis = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * sigma**2))[None, None]


def _centroid(image: torch.Tensor) -> torch.Tensor:
    size = image.shape[-1]
    axis = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    weights = image[0, 0] / image[0, 0].sum()
    return torch.stack([(weights * xx).sum(), (weights * yy).sum()])


def test_zero_noise_is_the_identity():
    torch.manual_seed(0)
    warp = RandomWarp(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5)
    points = torch.rand(2, 7, 2) * 2 - 1
    assert torch.allclose(warp.warp_points(points), points)
    assert torch.allclose(warp.jacobian(points), torch.eye(2).expand(2, 7, 2, 2))
    image = torch.rand(2, 3, 16, 20)
    assert torch.allclose(warp.warp_image(image), image, atol=1e-5)


def test_image_warp_and_point_warp_agree():
    """A blob drawn at p shows up in the warped image at q with T(q) = p."""
    torch.manual_seed(1)
    size = 97
    warp = RandomWarp(1, sigma_affine=0.08, sigma_tps=0.01, points_tps=5)
    moves = []
    for center in ([0.0, 0.0], [0.3, -0.25], [-0.35, 0.4], [0.4, 0.4]):
        p = torch.tensor(center)
        q = _centroid(warp.warp_image(_blob(p, size)))
        back = warp.warp_points(q.view(1, 1, 2))[0, 0]
        assert torch.dist(back, p) < 1.5 * 2 / (size - 1), (center, back)  # within 1.5 pixels
        moves.append(torch.dist(q, p).item())
    assert max(moves) > 0.05  # the warp really moved things (by several pixels)


def test_analytic_jacobian_matches_autograd():
    torch.manual_seed(2)
    warp = RandomWarp(3, sigma_affine=0.1, sigma_tps=0.05, points_tps=4)
    points = torch.rand(3, 5, 2, dtype=torch.float64) * 2 - 1
    points[0, 0] = warp.control[5].double()  # exactly on a control point: still finite and right
    warp.theta, warp.weights, warp.control = warp.theta.double(), warp.weights.double(), warp.control.double()
    numeric = torch.autograd.functional.jacobian(lambda z: warp.warp_points(z).sum(0), points)  # N x 2 x B x N x 2
    expected = torch.stack([numeric[:, :, b, :, :].diagonal(dim1=0, dim2=2).permute(2, 0, 1)
                            for b in range(3)])
    assert torch.allclose(warp.jacobian(points), expected, atol=1e-8)


def test_equivariance_losses_vanish_for_consistent_keypoints():
    torch.manual_seed(3)
    warp = RandomWarp(2, sigma_affine=0.1, sigma_tps=0.01, points_tps=5)
    kp_t = Keypoints(torch.rand(2, 6, 2) * 1.6 - 0.8, torch.eye(2) + 0.2 * torch.randn(2, 6, 2, 2))
    kp_d = Keypoints(warp.warp_points(kp_t.value), warp.jacobian(kp_t.value) @ kp_t.jacobian)
    assert equivariance_value_loss(kp_d, kp_t, warp, 10.0) < 1e-5
    assert equivariance_jacobian_loss(kp_d, kp_t, warp, 10.0) < 1e-4
    shifted = Keypoints(kp_d.value + 0.1, kp_d.jacobian)
    assert abs(equivariance_value_loss(shifted, kp_t, warp, 10.0).item() - 1.0) < 1e-4  # 10 x mean |0.1|


def test_inverse_2x2_and_pyramid():
    m = torch.eye(2) + 0.3 * torch.randn(5, 4, 2, 2)
    assert torch.allclose(inverse_2x2(m), torch.linalg.inv(m), atol=1e-5)
    pyramid = ImagePyramid([1, 0.5, 0.25], 3)
    image = torch.rand(2, 3, 32, 32)
    levels = pyramid(image)
    assert {s: tuple(v.shape[2:]) for s, v in levels.items()} == {1.0: (32, 32), 0.5: (16, 16), 0.25: (8, 8)}
    assert levels[1.0] is image
    assert pyramid_l1_loss(levels, pyramid(image), [1, 0.5, 0.25], 50.0) == 0
    brighter = pyramid(image + 0.1)
    assert abs(pyramid_l1_loss(brighter, levels, [1], 50.0).item() - 50 * 0.1) < 1e-4
    assert pyramid_l1_loss(brighter, levels, [1, 0.5], 50.0) > pyramid_l1_loss(brighter, levels, [1], 50.0)
