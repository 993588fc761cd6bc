"""The generator's occlusion blend (ours): what it shows where, how it is stored, and the inference path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm_cli.animate import Animator
from fomm_cli.checkpoints import load_model, save_pretrained
from fomm_cli.config import DenseMotionConfig, GeneratorConfig, KeypointDetectorConfig, ModelConfig
from fomm_cli.models.model import FirstOrderModel


def blend_model(occlusion_blend: bool = True) -> FirstOrderModel:
    torch.manual_seed(0)
    config = ModelConfig(
        num_kp=4, image_size=(32, 32), estimate_jacobian=True, align_corners=True,
        kp_detector=KeypointDetectorConfig(block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5),
        generator=GeneratorConfig(block_expansion=8, max_features=32, num_down_blocks=1, num_bottleneck_blocks=1,
                                  occlusion_blend=occlusion_blend,
                                  dense_motion=DenseMotionConfig(block_expansion=8, max_features=32, num_blocks=3,
                                                                 scale_factor=0.5)),
    )
    return FirstOrderModel(config).eval()


def test_visible_parts_are_the_warped_source_and_hidden_parts_the_decoder() -> None:
    """prediction = occlusion * warped source + (1 - occlusion) * decoded."""
    model = blend_model()
    occlusion = model.generator.dense_motion_network.occlusion
    image = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        kp = model.kp_detector(image)
        occlusion.weight.zero_()
        occlusion.bias.fill_(50.0)  # sigmoid -> 1: all visible
        visible = model.generator(image, kp_driving=kp, kp_source=kp)
        occlusion.bias.fill_(-50.0)  # sigmoid -> 0: all occluded
        hidden = model.generator(image, kp_driving=kp, kp_source=kp)
        model.generator.occlusion_blend = False
        decoded = model.generator(image, kp_driving=kp, kp_source=kp)
    assert torch.allclose(visible.prediction, visible.deformed, atol=1e-6)
    assert torch.allclose(visible.prediction, image, atol=1e-5)  # zero motion with align_corners
    assert torch.allclose(hidden.prediction, decoded.prediction, atol=1e-6)


def test_blend_needs_an_occlusion_map() -> None:
    with pytest.raises(ValueError, match="occlusion_blend needs"):
        FirstOrderModel(ModelConfig(generator=GeneratorConfig(estimate_occlusion_map=False, occlusion_blend=True)))


def test_the_setting_is_saved_beside_the_weights(tmp_path) -> None:
    """No tensor shows the blend, so it lives in config.json; the official layout omits it when off."""
    assert "occlusion_blend" not in ModelConfig().to_official()["generator_params"]
    model = blend_model()
    assert model.config.to_official()["generator_params"]["occlusion_blend"] is True
    save_pretrained(model, tmp_path / "blend")
    assert load_model(tmp_path / "blend").generator.occlusion_blend


@pytest.mark.parametrize("occlusion_blend", [False, True])
def test_inference_pipeline_keeps_the_output(occlusion_blend: bool) -> None:
    """The animation pipeline folds BatchNorm, rewrites up blocks and reuses the encoded source."""
    model = blend_model(occlusion_blend)
    for module in model.modules():  # non-trivial running statistics, so that folding matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    result = np.stack(list(Animator(model, "cpu", relative=False, batch_size=3).animate(frames[0], iter(frames))))
    image = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        kp_driving = model.kp_detector(image)
        kp_source = model.kp_detector(image[:1]).expand(3)
        expected = model.generator(image[:1].expand(3, -1, -1, -1), kp_driving=kp_driving, kp_source=kp_source)
    reference = (expected.prediction.permute(0, 2, 3, 1).numpy() * 255).round()
    assert np.abs(result.astype(float) - reference).max() <= 1
