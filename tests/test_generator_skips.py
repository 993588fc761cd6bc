"""The generator's optional skip connections: shapes, config round trips, and the inference rewrites."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm_cli.animate import Animator
from fomm_cli.config import DenseMotionConfig, GeneratorConfig, KeypointDetectorConfig, ModelConfig, infer_config
from fomm_cli.models.model import FirstOrderModel


def skip_model(num_down_blocks: int) -> FirstOrderModel:
    torch.manual_seed(0)
    config = ModelConfig(
        num_kp=4, image_size=(32, 32), estimate_jacobian=True, align_corners=True,
        kp_detector=KeypointDetectorConfig(block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5),
        generator=GeneratorConfig(block_expansion=8, max_features=32, num_down_blocks=num_down_blocks,
                                  num_bottleneck_blocks=1, skip_connections=True,
                                  dense_motion=DenseMotionConfig(block_expansion=8, max_features=32, num_blocks=3,
                                                                 scale_factor=0.5)),
    )
    return FirstOrderModel(config).eval()


@pytest.mark.parametrize("num_down_blocks", [1, 2])
def test_every_resolution_is_warped_and_decoded(num_down_blocks: int) -> None:
    model = skip_model(num_down_blocks)
    image = torch.rand(2, 3, 32, 32)
    features = model.generator.encode(image)
    assert [tuple(f.shape[1:]) for f in features] == [(8 * 2 ** i, 32 >> i, 32 >> i) for i in
                                                      range(num_down_blocks + 1)]
    with torch.no_grad():
        kp = model.kp_detector(image)
        out = model.generator(image, kp_driving=kp, kp_source=kp)
    assert out.prediction.shape == image.shape
    # The full-resolution skip reaches the output: changing it alone changes the prediction.
    with torch.no_grad():
        motion = model.generator.dense_motion_network(model.generator.dense_motion_network.downscale(image), kp, kp)
        warped = model.generator.transform(features, motion)
        base = model.generator.decode(warped)
        warped[0] = warped[0] + 1
        assert not torch.allclose(model.generator.decode(warped), base)


def test_skip_connections_are_read_back_from_the_weights() -> None:
    model = skip_model(2)
    states = {name: part.state_dict() for name, part in model.parts().items()}
    inferred = infer_config(states["kp_detector"], states["generator"], {})
    assert inferred.generator.skip_connections
    assert inferred.to_official()["generator_params"]["skip_connections"] is True
    plain = ModelConfig.from_official(model.config.to_official(), [32, 32, 3], align_corners=True)
    assert plain.generator == model.config.generator


def test_official_layout_omits_the_option_when_off() -> None:
    assert "skip_connections" not in ModelConfig().to_official()["generator_params"]


def test_inference_rewrites_keep_the_output() -> None:
    """The animation pipeline folds BatchNorm and rewrites up blocks; with skips the result is unchanged."""
    model = skip_model(2)
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
