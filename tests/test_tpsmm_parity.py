"""Our TPSMM reproduces the reference ``demo.py make_animation`` in its three modes on small random-weight
checkpoints of every reference config (fixture: tests/fixtures/tpsmm, see its README).

Keypoints are compared as our pipeline computes them (batched, BatchNorm folded, channels-last); predictions and
dense motion outputs are compared given the reference's keypoints, so that they test the renderer alone; the
uint8 frames are compared end to end.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from fomm_cli.animate import Animator, to_tensor, to_uint8
from fomm_cli.checkpoints import load_model
from fomm_cli.media.image import read_image
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import movement_scale, transfer_keypoints

from .conftest import FIXTURES

FIXTURE = FIXTURES / "tpsmm"
CONFIGS = ["vox-256", "taichi-256", "mgif-256", "ted-384", "vox-768", "single-mask"]
CASES = [(name, mode) for name in CONFIGS for mode in ("standard", "relative", "avd")
         if (name, mode) != ("single-mask", "avd")]


@functools.cache
def _case(name: str):
    """(model, engine, source, driving frames, expected arrays) for a fixture config."""
    model = load_model(FIXTURE / f"{name}.pth.tar")
    expected = dict(np.load(FIXTURE / f"expected_{name}.npz"))
    size = expected["frames_relative"].shape[1]
    model.config.image_size = (size, size)
    source = read_image(FIXTURE / f"source_{size}.png")
    driving = read_image(FIXTURE / f"driving_{size}.png").reshape(size, -1, size, 3).transpose(1, 0, 2, 3)
    engine = model.for_inference(torch.device("cpu"))
    return model, engine, source, driving, expected


@functools.cache
def _keypoints(name: str, mode: str) -> tuple[Keypoints, Keypoints]:
    """Our (source, driving-for-the-mode) keypoints, as the pipeline computes them."""
    _, engine, source, driving, _ = _case(name)
    with torch.inference_mode():
        if mode == "standard":
            return tuple(engine.keypoints(to_tensor(frames, engine.device)) for frames in (source, driving))
        kp_source, kp_driving = _keypoints(name, "standard")
        if mode == "relative":
            scale = movement_scale(kp_source, kp_driving[:1])
            return kp_source, transfer_keypoints(kp_source, kp_driving, kp_driving[:1], relative=True, scale=scale)
        return kp_source, engine.avd(kp_source.expand(len(kp_driving)), kp_driving)


@pytest.mark.parametrize("name", CONFIGS)
def test_keypoints_match_reference(name):
    expected = _case(name)[4]
    kp_source, kp_driving = _keypoints(name, "standard")
    assert kp_source.jacobian is None
    np.testing.assert_allclose(kp_source.value.numpy(), expected["kp_source"], atol=1e-4)
    np.testing.assert_allclose(kp_driving.value.numpy(), expected["kp_driving"], atol=1e-4)
    assert movement_scale(kp_source, kp_driving[:1]) == pytest.approx(float(expected["adapt_scale"]), rel=1e-5)


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_transferred_keypoints_match_reference(name, mode):
    _, kp_driving = _keypoints(name, mode)
    np.testing.assert_allclose(kp_driving.value.numpy(), _case(name)[4][f"kp_norm_{mode}"], atol=1e-4)


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_predictions_match_reference(name, mode):
    """Given the reference's keypoints: the float prediction to 1e-4 and every uint8 frame within one level."""
    _, engine, source, _, expected = _case(name)
    kp_driving = Keypoints(torch.from_numpy(expected[f"kp_norm_{mode}"]))
    kp_source = Keypoints(torch.from_numpy(expected["kp_source"])).expand(len(kp_driving))
    with torch.inference_mode():
        predictions = engine.render(engine.encode_source(to_tensor(source, engine.device)), kp_source, kp_driving)
    np.testing.assert_allclose(predictions[-1].permute(1, 2, 0).numpy(), expected[f"pred_{mode}_last"], atol=1e-4)
    assert np.abs(to_uint8(predictions).astype(int) - expected[f"frames_{mode}"]).max() <= 1


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_uint8_frames_within_one_level_end_to_end(name, mode):
    """Our keypoints, transfer and renderer (the pipeline's engine; tests/test_tpsmm_cli.py runs the whole
    command in each mode)."""
    _, engine, source, _, expected = _case(name)
    kp_source, kp_driving = _keypoints(name, mode)
    with torch.inference_mode():
        encoded = engine.encode_source(to_tensor(source, engine.device))
        frames = to_uint8(engine.render(encoded, kp_source.expand(len(kp_driving)), kp_driving))
    assert frames.shape == expected[f"frames_{mode}"].shape
    assert np.abs(frames.astype(int) - expected[f"frames_{mode}"]).max() <= 1


def test_animator_batches_change_nothing():
    """The Animator (batches ramping 1, 2, 1) gives the engine's frames."""
    model, _, source, driving, expected = _case("vox-256")
    frames = np.stack(list(Animator(model, "cpu", batch_size=2).animate(source, iter(driving))))
    assert np.abs(frames.astype(int) - expected["frames_relative"]).max() <= 1


@pytest.mark.parametrize("name", CONFIGS)
def test_dense_motion_outputs_match_reference(name):
    """The last frame of the relative run: flow, contribution maps and every occlusion mask."""
    _, engine, source, _, expected = _case(name)
    network = engine.model.dense_motion_network
    with torch.inference_mode():
        small = engine.encode_source(to_tensor(source, engine.device)).small
        motion = network(small, Keypoints(torch.from_numpy(expected["kp_norm_relative"][-1:])),
                         Keypoints(torch.from_numpy(expected["kp_source"])))
    np.testing.assert_allclose(motion.deformation.numpy(), expected["deformation_last"], atol=1e-4)
    np.testing.assert_allclose(motion.contribution_maps.numpy(), expected["contribution_last"], atol=1e-4)
    masks = sorted(key for key in expected if key.startswith("occlusion_last_"))
    assert len(motion.occlusion_maps) == len(masks) == (1 if name == "single-mask" else 4)
    for mask, key in zip(motion.occlusion_maps, masks, strict=True):
        np.testing.assert_allclose(mask.numpy(), expected[key], atol=1e-4)


def test_background_motion_matches_reference():
    """The background predictor, as the reference's reconstruction mode runs it (source, driving frame)."""
    model, _, source, driving, expected = _case("vox-256")
    with torch.inference_mode():
        bg = model.bg_predictor(to_tensor(source, "cpu").expand(len(driving), -1, -1, -1), to_tensor(driving, "cpu"))
    np.testing.assert_allclose(bg.numpy(), expected["bg_param"], atol=1e-4)


@pytest.mark.parametrize("name", CONFIGS)
def test_optional_parts_follow_the_weights(name):
    """A background predictor and an AVD network exist exactly where the file has their weights, whatever the
    config says (the YAMLs of taichi, ted and vox-768 say bg: true)."""
    model, engine, *_ = _case(name)
    assert (model.bg_predictor is not None) == (name == "vox-256") == model.config.bg
    assert engine.has_avd == (name != "single-mask") == (model.config.avd is not None)
    assert engine.model.bg_predictor is None  # animation runs without background motion, as demo.py does
