"""Motion transfer (fomm_cli.motion): motion scale, jacobian scaling, MotionTransfer, and the Animator's use
of them on the parity fixture's checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fomm_cli.animate import Animator, to_uint8
from fomm_cli.checkpoints import load_model
from fomm_cli.controls import DEFAULT_STRENGTH
from fomm_cli.errors import InvalidSetting
from fomm_cli.media.image import read_image
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import (
    MotionTransfer,
    jacobian_to_log_polar,
    log_polar_to_jacobian,
    movement_scale,
    scale_jacobian,
    transfer_keypoints,
)
from fomm_cli.smoothing import KeypointSmoother, frame_jitter, step_lag

from .conftest import FIXTURES
from .test_smoothing import random_jacobians

PARITY = FIXTURES / "parity"


def rotation(theta: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.stack([theta.cos(), -theta.sin()], -1), torch.stack([theta.sin(), theta.cos()], -1)],
                       -2)


def random_keypoints(batch: int, seed: int, keypoints: int = 5) -> Keypoints:
    gen = torch.Generator().manual_seed(seed)
    jacobian = torch.eye(2) + 0.3 * torch.randn(batch, keypoints, 2, 2, generator=gen)
    return Keypoints(torch.rand(batch, keypoints, 2, generator=gen) * 2 - 1, jacobian)


def old_transfer(kp_source: Keypoints, kp_driving: Keypoints, kp_reference: Keypoints, scale: float) -> Keypoints:
    """Relative transfer exactly as it was before motion_scale existed."""
    value = (kp_driving.value - kp_reference.value) * scale + kp_source.value
    jacobian = torch.matmul(torch.matmul(kp_driving.jacobian, torch.inverse(kp_reference.jacobian)),
                            kp_source.jacobian)
    return Keypoints(value, jacobian)


# -------------------------------------------------------------------------------------------- pure math


def test_log_polar_round_trip() -> None:
    jacobian = random_jacobians((4000,)).double()
    params, flip = jacobian_to_log_polar(jacobian)
    assert torch.equal(flip, torch.linalg.det(jacobian) < 0)
    back = log_polar_to_jacobian(params, flip)
    scale = torch.linalg.matrix_norm(jacobian, ord=2)[:, None, None]
    assert ((back - jacobian).abs() / scale).max() < 1e-9
    # float32, condition numbers up to 1e5: relative to the matrix's size
    back32 = log_polar_to_jacobian(*jacobian_to_log_polar(jacobian.float()))
    assert ((back32.double() - jacobian).abs() / scale).max() < 1e-5


def test_scale_jacobian_stays_valid() -> None:
    jacobian = random_jacobians((2000,))
    det, cond = torch.linalg.det(jacobian.double()), torch.linalg.cond(jacobian.double())
    assert scale_jacobian(jacobian, 1.0) is jacobian
    assert torch.equal(scale_jacobian(jacobian, 0.0), torch.eye(2).expand(2000, 2, 2))
    # Condition numbers up to 1e5 for factors up to 1; above 1 cond grows to cond^factor, so there inputs up to
    # 1e3 (float32 cannot tell a matrix with cond 1e10 from a singular one).
    for factor in (0.25, 0.5, 0.9, 1.5, 2.0):
        keep = cond <= (1e5 if factor <= 1 else 1e3)
        scaled = scale_jacobian(jacobian[keep], factor).double()
        assert torch.isfinite(scaled).all()
        scaled_det = torch.linalg.det(scaled)
        assert torch.equal(scaled_det > 0, det[keep] > 0)  # a reflection stays one for every factor > 0
        # |det| = |det J|^factor and cond = cond(J)^factor, up to float32 rounding of J and of the result
        # (relative error about eps times the condition number)
        expected_cond = cond[keep] ** factor
        tolerance = 1e-4 + 1e-6 * torch.maximum(cond[keep], expected_cond)
        assert ((scaled_det.abs().log() - det[keep].abs().log() * factor).abs() <= tolerance).all()
        assert ((torch.linalg.cond(scaled).log() - expected_cond.log()).abs() <= tolerance).all()


def test_scale_jacobian_is_the_matrix_power_when_it_exists_in_closed_form() -> None:
    theta = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(scale_jacobian(rotation(theta), 0.5), rotation(theta / 2))
    torch.testing.assert_close(scale_jacobian(2.0 * rotation(theta), 2.0), 4.0 * rotation(2 * theta))
    spd = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    eigenvalues, vectors = torch.linalg.eigh(spd)
    root = vectors @ torch.diag(eigenvalues.sqrt()) @ vectors.T
    torch.testing.assert_close(scale_jacobian(spd, 0.5), root)
    # Scaling twice multiplies the factors (angles well inside (-pi, pi)).
    jacobian = torch.eye(2) + 0.3 * torch.randn(100, 2, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(scale_jacobian(scale_jacobian(jacobian, 0.5), 3.0), scale_jacobian(jacobian, 1.5),
                               atol=1e-5, rtol=1e-5)


def test_motion_scale_one_is_the_old_transfer_bit_for_bit() -> None:
    source, reference, driving = random_keypoints(1, 0), random_keypoints(1, 1), random_keypoints(6, 2)
    new = transfer_keypoints(source, driving, reference, scale=1.3, motion_scale=1.0)
    old = old_transfer(source, driving, reference, 1.3)
    assert torch.equal(new.value, old.value) and torch.equal(new.jacobian, old.jacobian)
    assert transfer_keypoints(source, driving, reference, relative=False, motion_scale=1.0) is driving


@pytest.mark.parametrize("relative", [True, False])
def test_motion_scale_zero_gives_the_source(relative) -> None:
    source, reference, driving = random_keypoints(1, 0), random_keypoints(1, 1), random_keypoints(6, 2)
    kp = transfer_keypoints(source, driving, reference, relative=relative, scale=1.3, motion_scale=0.0)
    assert torch.equal(kp.value, source.value.expand(6, -1, -1))
    assert torch.equal(kp.jacobian, source.jacobian.expand(6, -1, -1, -1))


def test_motion_scale_weakens_and_exaggerates() -> None:
    source, reference = random_keypoints(1, 0), random_keypoints(1, 1)
    turn = rotation(torch.full((4, 5), 0.4))
    driving = Keypoints(reference.value + torch.linspace(0, 0.1, 4)[:, None, None],
                        turn @ reference.jacobian.expand(4, -1, -1, -1))
    full = transfer_keypoints(source, driving, reference, scale=1.3)
    for factor in (0.5, 2.0):
        kp = transfer_keypoints(source, driving, reference, scale=1.3, motion_scale=factor)
        torch.testing.assert_close(kp.value - source.value, factor * (full.value - source.value))
        # The relative jacobian is a pure rotation: its angle scales.
        torch.testing.assert_close(kp.jacobian, rotation(torch.full((4, 5), 0.4 * factor)) @ source.jacobian)
    # Absolute mode: the motion is the one from the source's keypoints to the driving ones.
    half = transfer_keypoints(source, driving, reference, relative=False, motion_scale=0.5)
    torch.testing.assert_close(half.value, (source.value + driving.value) / 2)


def test_motion_scale_validation() -> None:
    for bad in (-0.1, math.nan, math.inf, 10.5, "lots"):
        with pytest.raises(InvalidSetting) as err:
            MotionTransfer(random_keypoints(1, 0), random_keypoints(1, 1), motion_scale=bad)  # type: ignore[arg-type]
        assert err.value.setting == "motion_scale"


def test_motion_transfer_keeps_the_smoother_state_across_batches() -> None:
    source, reference, driving = random_keypoints(1, 0), random_keypoints(1, 1), random_keypoints(12, 2)
    whole = MotionTransfer(source, reference, smoother=KeypointSmoother())(driving)
    transfer = MotionTransfer(source, reference, smoother=KeypointSmoother())
    parts = Keypoints.cat([transfer(driving[i:i + 5]) for i in range(0, 12, 5)])
    assert torch.equal(whole.value, parts.value) and torch.equal(whole.jacobian, parts.jacobian)
    plain = MotionTransfer(source, reference)
    assert plain.scale == movement_scale(source, reference)
    expected = transfer_keypoints(source, driving, reference, scale=plain.scale)
    assert torch.equal(plain(driving).value, expected.value)
    assert not torch.equal(whole.value, expected.value)


# ---------------------------------------------------------------------------------- parity checkpoint


@pytest.fixture(scope="module")
def model():
    loaded = load_model(PARITY / "a.pth.tar")
    loaded.config.image_size = (64, 64)
    return loaded


@pytest.fixture(scope="module")
def inputs():
    return read_image(PARITY / "source.png"), np.load(PARITY / "driving.npy")


def noisy(frames: np.ndarray, level: float, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    return np.clip(frames + gen.normal(0, level, frames.shape), 0, 255).round().astype(np.uint8)


def test_zero_motion_scale_renders_the_source_against_itself(model, inputs) -> None:
    source, driving = inputs
    animator = Animator(model, "cpu", batch_size=1, motion_scale=0.0)
    frames = list(animator.animate(source, iter(driving)))
    encoded = animator.encode_source(source)
    with torch.inference_mode():
        itself = to_uint8(animator.engine.render(encoded.state, encoded.keypoints, encoded.keypoints))[0]
    assert len(frames) == len(driving)
    for frame in frames:
        assert np.array_equal(frame, itself)
    # ... which is not what the driving's motion makes of it.
    assert not np.array_equal(list(Animator(model, "cpu").animate(source, iter(driving[:2])))[1], itself)


@pytest.mark.parametrize("relative", [True, False])
def test_motion_scale_one_and_no_smoothing_are_bit_identical_to_before(model, inputs, relative) -> None:
    source, driving = inputs
    animator = Animator(model, "cpu", batch_size=8, relative=relative)
    default = np.stack(list(animator.animate(source, iter(driving))))
    explicit = Animator(model, "cpu", batch_size=8, relative=relative, motion_scale=1.0, smoothing=0)
    assert np.array_equal(np.stack(list(explicit.animate(source, iter(driving)))), default)
    # The generator fed by the transfer as it was, batch for batch as animate() batches (1, 2, 4, 1 frames).
    encoded = animator.encode_source(source)
    kp_reference = animator.keypoints(driving[0])
    scale = movement_scale(encoded.keypoints, kp_reference) if relative else 1.0
    before = []
    for start, stop in ((0, 1), (1, 3), (3, 7), (7, 8)):
        kp_driving = animator.keypoints(list(driving[start:stop]))
        kp = old_transfer(encoded.keypoints, kp_driving, kp_reference, scale) if relative else kp_driving
        with torch.inference_mode():
            before.append(to_uint8(animator.engine.render(encoded.state, encoded.keypoints.expand(len(kp)), kp)))
    assert np.array_equal(default, np.concatenate(before))


def test_smoothing_on_the_parity_detector(model, inputs) -> None:
    """Pixel noise on a still frame through the (random-weight) detector: jitter 0.0042 per coordinate;
    smoothing at the default strength measured 0.38 of the jitter without. A cut to another pose with the
    same noise: 90 % of the way within 2 frames (mean response of 5 draws)."""
    _, driving = inputs
    animator = Animator(model, "cpu", batch_size=16)
    still = driving[:1].repeat(100, axis=0)
    clean = animator.keypoints(list(still))
    jittery = animator.keypoints(list(noisy(still, 2, 0)))
    reference = jittery[:1]
    truth = MotionTransfer(reference, reference)(clean)
    raw = MotionTransfer(reference, reference)(jittery)
    smoothed = MotionTransfer(reference, reference, smoother=KeypointSmoother(DEFAULT_STRENGTH))(jittery)
    assert frame_jitter(smoothed.value, truth.value) < 0.5 * frame_jitter(raw.value, truth.value)
    assert frame_jitter(smoothed.jacobian, truth.jacobian, 2) < 0.5 * frame_jitter(raw.jacobian, truth.jacobian, 2)

    cut = np.concatenate([driving[:1].repeat(30, 0), driving[7:8].repeat(10, 0)])
    ends = animator.keypoints([driving[0], driving[7]])
    moved = (ends.value[1] - ends.value[0]).norm(dim=-1) > 0.05
    assert moved.sum() >= 3
    responses = [MotionTransfer(ends[:1], ends[:1], smoother=KeypointSmoother())(animator.keypoints(list(noisy(
        cut, 2, seed)))).value for seed in range(5)]
    lag = step_lag(torch.stack(responses).mean(0), ends.value[0], ends.value[1], 30)
    assert lag[moved].max() <= 2


def test_animator_smoothing_does_not_depend_on_batch_size(model, inputs) -> None:
    source, driving = inputs
    frames = noisy(np.concatenate([driving[:1].repeat(4, 0), driving[1:4]]), 4, 0)
    results = [np.stack(list(Animator(model, "cpu", batch_size=size, smoothing=DEFAULT_STRENGTH).animate(
        source, iter(frames)))) for size in (1, 8)]
    assert np.abs(results[1].astype(int) - results[0]).max() <= 1  # the generator's own batch rounding
    plain = np.stack(list(Animator(model, "cpu", batch_size=8).animate(source, iter(frames))))
    assert not np.array_equal(plain, results[1])


def test_animator_settings_are_validated(model) -> None:
    with pytest.raises(InvalidSetting) as err:
        Animator(model, "cpu", smoothing=-1)
    assert err.value.setting == "smoothing"
    with pytest.raises(InvalidSetting) as err:
        Animator(model, "cpu", motion_scale=math.nan)
    assert err.value.setting == "motion_scale"
