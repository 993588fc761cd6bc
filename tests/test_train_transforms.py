"""Random affine + TPS warps and the losses built on them."""

from __future__ import annotations

import pytest
import torch

from fomm_cli.models.keypoints import Keypoints
from fomm_cli.train.losses import (
    ImagePyramid,
    PyramidL1Loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    inverse_2x2,
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


def sample(batch: int, sigma_affine: float, sigma_tps: float, points_tps: int, tps: str = "reference",
           seed: int = 0) -> RandomWarp:
    return RandomWarp.sample(batch, sigma_affine, sigma_tps, points_tps, tps, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("tps", ["reference", "euclidean", "tpsmm"])
def test_zero_noise_is_the_identity_and_the_global_rng_is_left_alone(tps):
    state = torch.get_rng_state()
    warp = sample(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5, tps=tps)
    assert torch.equal(torch.get_rng_state(), state)
    points = torch.rand(2, 7, 2) * 2 - 1
    assert torch.allclose(warp.warp_points(points), points)
    assert torch.allclose(warp.jacobian(points), torch.eye(2).expand(2, 7, 2, 2))
    image = torch.rand(2, 3, 16, 20)
    assert torch.allclose(warp.warp_image(image, align_corners=True), image, atol=1e-5)
    # The reference's sampling (align_corners False): its identity reads column i at i n / (n - 1) - 1/2, a
    # zoom about the centre by n / (n - 1) (1.6 % at 64 px). On a ramp (value = column) that is exact inside.
    n = 20
    ramp = torch.arange(n, dtype=torch.float32).expand(2, 1, 16, n)
    zoomed = warp.warp_image(ramp, align_corners=False)[0, 0, 0]
    inside = torch.arange(1, n - 1)
    assert torch.allclose(zoomed[inside], inside * n / (n - 1) - 0.5, atol=1e-4)


def test_reference_form_is_the_authors_formula():
    """s(z) = sum_p w_p d^2 log(d + 1e-6), d = |x - cx| + |y - cy|, added to x and y alike."""
    warp = sample(2, sigma_affine=0.05, sigma_tps=0.01, points_tps=3)
    points = torch.rand(2, 6, 2, dtype=torch.float64) * 2 - 1
    theta, weights = warp.theta.double(), warp.tps_weights.double()
    affine = torch.einsum("bij,bnj->bni", theta[:, :, :2], points) + theta[:, None, :, 2]
    axis = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    control = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)  # x fastest
    d = (points[:, :, None] - control).abs().sum(-1)
    spline = (weights[:, None] * d**2 * torch.log(d + 1e-6)).sum(-1, keepdim=True)
    assert torch.allclose(RandomWarp(theta, weights).warp_points(points), affine + spline, atol=1e-12)


@pytest.mark.parametrize("tps", ["reference", "euclidean", "tpsmm"])
def test_analytic_jacobian_matches_autograd(tps):
    warp = sample(3, sigma_affine=0.1, sigma_tps=0.05, points_tps=4, tps=tps, seed=2)
    warp = RandomWarp(warp.theta.double(), warp.tps_weights.double(), tps)
    points = torch.rand(3, 5, 2, dtype=torch.float64) * 2 - 1
    points[0, 0] = warp.control[5]  # exactly on a control point: still finite, and autograd's value
    points[1, 1, 0] = warp.control[2, 0]  # on a control point's column only (the L1 distance's kink in x)
    numeric = torch.autograd.functional.jacobian(lambda z: warp.warp_points(z).sum(0), points)  # N x 2 x B x N x 2
    expected = torch.stack([numeric[:, :, b, :, :].diagonal(dim1=0, dim2=2).permute(2, 0, 1) for b in range(3)])
    assert torch.allclose(warp.jacobian(points), expected, atol=1e-8)


def test_image_warp_and_point_warp_agree():
    """A blob drawn at p shows up in the warped image at q with T(q) = p (exact sampling convention)."""
    size = 97
    warp = sample(1, sigma_affine=0.08, sigma_tps=0.003, points_tps=5, seed=1)
    moves = []
    for center in ([0.0, 0.0], [0.3, -0.25], [-0.35, 0.4], [0.4, 0.4]):
        p = torch.tensor(center)
        q = _centroid(warp.warp_image(_blob(p, size), align_corners=True))
        back = warp.warp_points(q.view(1, 1, 2))[0, 0]
        assert torch.dist(back, p) < 1.5 * 2 / (size - 1), (center, back)  # within 1.5 pixels
        moves.append(torch.dist(q, p).item())
    assert max(moves) > 0.05  # the warp really moved things (by several pixels)


def test_equivariance_losses_vanish_for_consistent_keypoints():
    warp = sample(2, sigma_affine=0.1, sigma_tps=0.005, points_tps=5, seed=3)
    generator = torch.Generator().manual_seed(3)
    kp_t = Keypoints(torch.rand(2, 6, 2, generator=generator) * 1.6 - 0.8,
                     torch.eye(2) + 0.2 * torch.randn(2, 6, 2, 2, generator=generator))
    kp_d = Keypoints(warp.warp_points(kp_t.value), warp.jacobian(kp_t.value) @ kp_t.jacobian)
    assert equivariance_value_loss(kp_d, kp_t, warp, 10.0) < 1e-5
    assert equivariance_jacobian_loss(kp_d, kp_t, warp, 10.0) < 1e-4
    shifted = Keypoints(kp_d.value + 0.1, kp_d.jacobian)
    assert abs(equivariance_value_loss(shifted, kp_t, warp, 10.0).item() - 1.0) < 1e-4  # 10 x mean |0.1|


def test_the_two_forms_differ_in_strength():
    """At the configs' sigma_tps the reference's displacements are about 2.7x the Euclidean form's."""
    grid = torch.rand(1, 4096, 2, generator=torch.Generator().manual_seed(5)) * 2 - 1
    rms = {}
    for tps in ("reference", "euclidean"):
        shifts = []
        for seed in range(20):
            warp = sample(1, 0.0, 0.005, 5, tps, seed)
            shifts.append(warp.warp_points(grid) - grid)
        rms[tps] = torch.cat(shifts).pow(2).mean().sqrt().item()
    assert 2.2 < rms["reference"] / rms["euclidean"] < 3.0, rms


def test_inverse_2x2_and_pyramid():
    m = torch.eye(2) + 0.3 * torch.randn(5, 4, 2, 2)
    assert torch.allclose(inverse_2x2(m), torch.linalg.inv(m), atol=1e-5)
    pyramid = ImagePyramid([1, 0.5, 0.25], 3)
    image = torch.rand(2, 3, 32, 32)
    levels = pyramid(image)
    assert {s: tuple(v.shape[2:]) for s, v in levels.items()} == {1.0: (32, 32), 0.5: (16, 16), 0.25: (8, 8)}
    assert levels[1.0] is image
    assert PyramidL1Loss([1, 0.5, 0.25], 50.0)(levels, pyramid(image)) == 0
    brighter = pyramid(image + 0.1)
    assert abs(PyramidL1Loss([1], 50.0)(brighter, levels).item() - 50 * 0.1) < 1e-4
    assert PyramidL1Loss([1, 0.5], 50.0)(brighter, levels) > PyramidL1Loss([1], 50.0)(brighter, levels)
