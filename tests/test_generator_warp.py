"""The generator's sampling grids: what zero motion does under each ``align_corners`` setting."""

from __future__ import annotations

import pytest
import torch

from fomm_cli.config import DenseMotionConfig, GeneratorConfig, KeypointDetectorConfig, ModelConfig
from fomm_cli.models.model import FirstOrderModel


def tiny_model(align_corners: bool) -> FirstOrderModel:
    torch.manual_seed(0)
    config = ModelConfig(
        num_kp=4, image_size=(32, 32), estimate_jacobian=True, align_corners=align_corners,
        kp_detector=KeypointDetectorConfig(block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5),
        generator=GeneratorConfig(block_expansion=8, max_features=32, num_down_blocks=1, num_bottleneck_blocks=1,
                                  dense_motion=DenseMotionConfig(block_expansion=8, max_features=32, num_blocks=3,
                                                                 scale_factor=0.5)),
    )
    return FirstOrderModel(config).eval()


@pytest.mark.parametrize("align_corners", [True, False])
def test_zero_motion_is_the_identity_only_with_align_corners(align_corners: bool) -> None:
    model = tiny_model(align_corners)
    image = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        kp = model.kp_detector(image)
        out = model.generator(image, kp_driving=kp, kp_source=kp)
    error = (out.deformed - image).abs().mean().item()
    if align_corners:  # the grid, resized corner to corner from the motion's 16x16, samples pixel centres
        assert error < 1e-5
    else:  # the reference's convention under torch >= 1.3: a sub-pixel zoom even when nothing moves
        assert error > 0.05
