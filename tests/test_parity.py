"""Our models reproduce the authors' reference code on official-format checkpoints.

The fixture (tests/fixtures/parity, see its README) holds small random-weight checkpoints in the official
format and the keypoints and frames the reference implementation produced from them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm_cli.animate import Animator
from fomm_cli.checkpoints import load_model
from fomm_cli.config import ModelConfig
from fomm_cli.media.image import read_image
from fomm_cli.models import FirstOrderModel
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import movement_scale

from .conftest import FIXTURES

PARITY = FIXTURES / "parity"


@pytest.fixture(scope="module")
def inputs():
    return read_image(PARITY / "source.png"), np.load(PARITY / "driving.npy")


def _animator(name: str, **kwargs) -> Animator:
    model = load_model(PARITY / f"{name}.pth.tar")
    model.config.image_size = (64, 64)
    return Animator(model, "cpu", **kwargs)


@pytest.mark.parametrize("name", ["a", "b"])
def test_keypoints_match_reference(name, inputs):
    source, driving = inputs
    expected = np.load(PARITY / f"expected_{name}.npz")
    animator = _animator(name)
    kp_source = animator.keypoints(source)
    kp_driving = animator.keypoints(list(driving))
    np.testing.assert_allclose(kp_source.value.numpy(), expected["kp_source_value"], atol=1e-5)
    np.testing.assert_allclose(kp_source.jacobian.numpy(), expected["kp_source_jacobian"], atol=1e-5)
    np.testing.assert_allclose(kp_driving.value.numpy(), expected["kp_driving_value"], atol=1e-5)
    np.testing.assert_allclose(kp_driving.jacobian.numpy(), expected["kp_driving_jacobian"], atol=1e-5)
    assert movement_scale(kp_source, kp_driving[:1]) == pytest.approx(float(expected["adapt_scale"]), rel=1e-5)


@pytest.mark.parametrize("name", ["a", "b"])
@pytest.mark.parametrize(
    ("key", "relative", "adapt_scale", "reference_index"),
    [
        ("pred_relative_adapt", True, True, None),
        ("pred_relative", True, False, None),
        ("pred_absolute", False, False, None),
        ("pred_best3", True, True, 3),
    ],
)
def test_frames_match_reference(name, key, relative, adapt_scale, reference_index, inputs):
    source, driving = inputs
    expected = np.load(PARITY / f"expected_{name}.npz")[key]
    animator = _animator(name, relative=relative, adapt_scale=adapt_scale, batch_size=3)
    encoded = animator.encode_source(source)
    reference = driving[0 if reference_index is None else reference_index]
    kp_reference = animator.keypoints(reference)
    scale = movement_scale(encoded.keypoints, kp_reference) if adapt_scale else 1.0
    predicted = animator.render(encoded, animator.keypoints(list(driving)), kp_reference, scale)
    np.testing.assert_allclose(predicted.permute(0, 2, 3, 1).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("name", ["a", "b"])
def test_uint8_stream_within_one_level(name, inputs):
    source, driving = inputs
    expected = np.load(PARITY / f"expected_{name}.npz")["pred_relative_adapt_u8"]
    frames = np.stack(list(_animator(name, batch_size=5).animate(source, iter(driving))))
    assert frames.dtype == np.uint8 and frames.shape == expected.shape
    assert np.abs(frames.astype(int) - expected).max() <= 1


def test_dense_motion_outputs_match_reference(inputs):
    source, driving = inputs
    expected = np.load(PARITY / "expected_a.npz")
    model = load_model(PARITY / "a.pth.tar")
    animator = Animator(model, "cpu")
    kp_source = animator.keypoints(source)
    kp_driving = animator.keypoints(list(driving))
    from fomm_cli.motion import transfer_keypoints

    kp = transfer_keypoints(kp_source, kp_driving[2:3], kp_driving[:1], scale=float(expected["adapt_scale"]))
    with torch.inference_mode():
        out = model.generator(torch.from_numpy(source).permute(2, 0, 1)[None].float() / 255, kp, kp_source)
    np.testing.assert_allclose(out.motion.deformation.numpy(), expected["deformation_frame2"], atol=1e-4)
    np.testing.assert_allclose(out.motion.occlusion_map.numpy(), expected["occlusion_frame2"], atol=1e-4)


def test_legacy_serialization_loads_the_same_weights():
    zipped = load_model(PARITY / "a.pth.tar")
    legacy = load_model(PARITY / "a-legacy.pth.tar", config=ModelConfig.from_yaml(PARITY / "a.yaml"))
    for (k1, v1), (k2, v2) in zip(zipped.state_dict().items(), legacy.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)


@pytest.mark.parametrize("name", ["a", "b"])
def test_inferred_architecture_equals_yaml(name):
    """Widths that never reach the cap leave max_features free: compare the built architectures."""
    inferred = load_model(PARITY / f"{name}.pth.tar", with_discriminator=True)
    declared = FirstOrderModel(ModelConfig.from_yaml(PARITY / f"{name}.yaml"), with_discriminator=True)
    shapes = {k: v.shape for k, v in declared.state_dict().items()}
    assert {k: v.shape for k, v in inferred.state_dict().items()} == shapes
    assert inferred.config.kp_detector.single_jacobian_map == (name == "b")
    assert inferred.config.generator.estimate_occlusion_map == (name == "a")


def test_zero_order_model_animates_in_relative_mode(inputs):
    """Without jacobians the reference crashes in relative mode; we move keypoint values only."""
    config = ModelConfig.from_yaml(PARITY / "a.yaml")
    config.estimate_jacobian = False
    config.image_size = (64, 64)
    torch.manual_seed(0)
    source, driving = inputs
    animator = Animator(FirstOrderModel(config), "cpu")
    encoded = animator.encode_source(source)
    kp_driving = animator.keypoints(list(driving[:3]))
    assert encoded.keypoints.jacobian is None and kp_driving.jacobian is None
    predicted = animator.render(encoded, kp_driving, kp_driving[:1], 1.0)
    # Frame t is driven by kp_source + (kp_t - kp_0): frame 0 by the source's own keypoints.
    with torch.inference_mode():
        still = animator.engine.render(encoded.state, encoded.keypoints, encoded.keypoints)
        moved = animator.engine.render(encoded.state, encoded.keypoints.expand(3),
                                       Keypoints(encoded.keypoints.value + kp_driving.value - kp_driving.value[:1]))
    torch.testing.assert_close(predicted[:1], still)
    torch.testing.assert_close(predicted, moved)
    frames = list(animator.animate(source, iter(driving[:3])))
    assert len(frames) == 3 and frames[0].shape == (64, 64, 3)


@pytest.mark.parametrize("name", ["a", "b"])
def test_bf16_fast_mode_stays_close_to_exact(name, inputs):
    """Half-precision convolutions, float32 keypoint means and sampling: PSNR >= 35 dB against fp32 on the
    real-photo fixture."""
    source, driving = inputs
    exact = np.stack(list(_animator(name).animate(source, iter(driving))))
    fast = np.stack(list(_animator(name, precision="bf16").animate(source, iter(driving))))
    mse = np.mean((exact.astype(np.float64) - fast) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-12)) >= 35


def test_fp16_needs_cuda():
    from fomm_cli.errors import FommError

    with pytest.raises(FommError, match="CUDA"):
        _animator("a", precision="fp16")
