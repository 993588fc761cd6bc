"""Keypoint smoothing (fomm_cli.smoothing): valid jacobians, batch-size independence, jitter and lag targets.

Synthetic driving keypoints with jitter of known size; the same measures as benchmarks/motion_smoothing.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from fomm_cli.controls import DEFAULT_STRENGTH
from fomm_cli.errors import InvalidSetting
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import log_polar_to_jacobian
from fomm_cli.smoothing import KeypointSmoother, frame_jitter, step_lag

FPS = 25


def sway(frames: int = 250, keypoints: int = 10, seed: int = 0, amplitude: float = 0.05) -> Keypoints:
    """Clean keypoints swaying at 0.3 Hz (+-amplitude), jacobians turning +-0.3 rad and scaling with them."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=torch.float64)[:, None, None] / FPS
    wave = torch.sin(2 * math.pi * 0.3 * t + 2 * math.pi * torch.rand(1, keypoints, 6, generator=gen,
                                                                        dtype=torch.float64))
    value = (torch.rand(1, keypoints, 2, generator=gen, dtype=torch.float64) - 0.5) + amplitude * wave[..., :2]
    params = amplitude * 10 * wave[..., 2:] * torch.tensor([0.3, 0.05, 0.05, 0.05], dtype=torch.float64)
    jacobian = log_polar_to_jacobian(params, torch.zeros(params.shape[:-1], dtype=torch.bool))
    return Keypoints(value.float(), jacobian.float())


def jittered(kp: Keypoints, sigma: float = 0.005, seed: int = 1) -> Keypoints:
    """Gaussian jitter: sigma per coordinate, 4 sigma per jacobian entry (as the demo model shows)."""
    gen = torch.Generator().manual_seed(seed)
    jacobian = None if kp.jacobian is None else kp.jacobian + 4 * sigma * torch.randn(kp.jacobian.shape,
                                                                                         generator=gen)
    return Keypoints(kp.value + sigma * torch.randn(kp.value.shape, generator=gen), jacobian)


def smooth(kp: Keypoints, strength: float = DEFAULT_STRENGTH, batch: int = 8) -> Keypoints:
    smoother = KeypointSmoother(strength)
    return Keypoints.cat([smoother(kp[i:i + batch]) for i in range(0, len(kp), batch)])


def random_jacobians(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Random 2 x 2 matrices U diag(s1, s2) V^T with either determinant sign and condition numbers up to 1e5."""
    gen = torch.Generator().manual_seed(seed)
    angles = 2 * math.pi * torch.rand(*shape, 2, generator=gen)
    cos, sin = angles.cos(), angles.sin()
    u = torch.stack([torch.stack([cos[..., 0], -sin[..., 0]], -1), torch.stack([sin[..., 0], cos[..., 0]], -1)], -2)
    v = torch.stack([torch.stack([cos[..., 1], -sin[..., 1]], -1), torch.stack([sin[..., 1], cos[..., 1]], -1)], -2)
    large = torch.exp(torch.randn(shape, generator=gen))
    small = large * torch.pow(10.0, -5 * torch.rand(shape, generator=gen))
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0)
    singular = torch.diag_embed(torch.stack([large, sign * small], -1))
    return u @ singular @ v.transpose(-1, -2)


def test_smoothed_jacobians_stay_invertible_with_their_determinant_sign() -> None:
    # 60 frames of wild random jacobians: near-singular ones, and determinant signs that flip between frames.
    jacobian = random_jacobians((60, 32))
    value = torch.rand(60, 32, 2) * 2 - 1
    out = KeypointSmoother(DEFAULT_STRENGTH)(Keypoints(value, jacobian))
    assert out.jacobian is not None and torch.isfinite(out.jacobian).all() and torch.isfinite(out.value).all()
    det_in, det_out = torch.linalg.det(jacobian.double()), torch.linalg.det(out.jacobian.double())
    assert torch.equal(det_in > 0, det_out > 0)
    assert (det_out != 0).all()
    # No worse conditioned than the worst input averaged so far (a convex combination of stretches).
    cond_in = torch.linalg.cond(jacobian.double())
    worst_so_far = torch.cummax(cond_in, dim=0).values
    assert (torch.linalg.cond(out.jacobian.double()) <= worst_so_far * 1.01).all()


def test_clean_motion_followed() -> None:
    clean = sway()
    out = smooth(clean)
    assert out.jacobian is not None and clean.jacobian is not None
    # No jitter: followed closely (measured 0.0005 and 0.0024 at most; the sway moves up to 0.013 a frame).
    assert (out.value - clean.value).abs().max() < 0.001
    assert (out.jacobian - clean.jacobian).abs().max() < 0.005


@pytest.mark.parametrize("sizes", [[1] * 40, [40], [3] * 13 + [1], [7, 1, 16, 2, 14]])
def test_result_does_not_depend_on_batch_size(sizes) -> None:
    kp = jittered(sway(frames=40, keypoints=6))
    smoother = KeypointSmoother(DEFAULT_STRENGTH)
    parts, start = [], 0
    for size in sizes:
        parts.append(smoother(kp[start:start + size]))
        start += size
    result = Keypoints.cat(parts)
    reference = smooth(kp, batch=40)
    assert torch.equal(result.value, reference.value)
    assert torch.equal(result.jacobian, reference.jacobian)


def test_keypoints_without_jacobians() -> None:
    # A TPSMM-like model: K * 5 = 50 points, no jacobians.
    clean = Keypoints(sway(keypoints=50).value)
    noisy = jittered(clean)
    out = smooth(noisy)
    assert out.jacobian is None and out.value.shape == noisy.value.shape
    assert frame_jitter(out.value, clean.value) < 0.5 * frame_jitter(noisy.value, clean.value)


@pytest.mark.parametrize("sigma", [0.005, 0.02])
@pytest.mark.parametrize("amplitude", [0.0, 0.05])
def test_default_strength_halves_jitter(sigma, amplitude) -> None:
    # Still and slowly swaying keypoints, jitter 0.64 px and 2.6 px at 256 px: measured 0.32 / 0.41 (0.005),
    # 0.32 / 0.33 (0.02).
    clean = sway(amplitude=amplitude)
    noisy = jittered(clean, sigma)
    out = smooth(noisy)
    assert frame_jitter(out.value, clean.value) < 0.5 * frame_jitter(noisy.value, clean.value)
    assert frame_jitter(out.jacobian, clean.jacobian, 2) < 0.5 * frame_jitter(noisy.jacobian, clean.jacobian, 2)


@pytest.mark.parametrize("size", [0.05, 0.1, 0.2])
def test_step_lag_under_three_frames(size) -> None:
    # Keypoints jump by `size` (10 to 40 jitter deviations) and their jacobians turn 0.2 rad at frame 30;
    # the mean response over 20 jitter draws reaches 90 % of the step within 2 frames (measured 2, 1, 1).
    frames, at = 50, 30
    value = torch.zeros(frames, 8, 2)
    value[at:, :, 0] = size
    params = torch.zeros(frames, 8, 4)
    params[at:, :, 0] = 0.2
    clean = Keypoints(value, log_polar_to_jacobian(params, torch.zeros(frames, 8, dtype=torch.bool)))
    results = [smooth(jittered(clean, seed=seed)) for seed in range(20)]
    mean_value = torch.stack([r.value for r in results]).mean(0)
    mean_jacobian = torch.stack([r.jacobian for r in results]).mean(0)
    assert step_lag(mean_value, value[0], value[-1], at).max() <= 2
    assert step_lag(mean_jacobian, clean.jacobian[0], clean.jacobian[-1], at, point_dims=2).max() <= 2


def test_no_overshoot_and_first_frame_unchanged() -> None:
    value = torch.zeros(30, 4, 2)
    value[10:] = 0.3
    value = value + 0.005 * torch.randn(value.shape, generator=torch.Generator().manual_seed(0))
    out = smooth(Keypoints(value)).value
    assert torch.equal(out[0], value[0])
    # Each output is a convex combination of the last output and the input: never outside the inputs' range.
    assert (out <= torch.cummax(value, 0).values + 1e-7).all()
    assert (out >= torch.cummin(value, 0).values - 1e-7).all()


def test_strength_zero_passes_through_and_invalid_strengths() -> None:
    kp = jittered(sway(frames=5))
    out = KeypointSmoother(0)(kp)
    assert out.value is kp.value and out.jacobian is kp.jacobian
    for bad in (-1, math.nan, math.inf, "strong"):
        with pytest.raises(InvalidSetting) as err:
            KeypointSmoother(bad)  # type: ignore[arg-type]
        assert err.value.setting == "smoothing"


def test_measures() -> None:
    noise = 0.01 * torch.randn(20000, 2, 2, generator=torch.Generator().manual_seed(0))
    assert frame_jitter(noise, torch.zeros_like(noise)) == pytest.approx(0.02, rel=0.02)
    assert frame_jitter(noise + 5, noise) == 0
    series = torch.zeros(10, 2, 2)
    series[4:, 0, 0], series[5:, 0, 0], series[4:, 1, 0] = 0.5, 1.0, 1.0
    assert step_lag(series, torch.zeros(2, 2), torch.tensor([[1.0, 0], [1.0, 0]]), 4).tolist() == [1, 0]
    assert step_lag(series, torch.zeros(2, 2), torch.tensor([[2.0, 0], [1.0, 0]]), 4).tolist() == [6, 0]
