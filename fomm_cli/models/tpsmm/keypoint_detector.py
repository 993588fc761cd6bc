"""TPSMM keypoint detector: a ResNet-18 regressing K x 5 keypoints (the control points of K thin-plate
splines) directly, without heatmaps."""

from __future__ import annotations

import torch
from torch import nn

from fomm_cli.models.blocks import at_least_float32
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.tpsmm.resnet import ResNet18


class KeypointDetector(nn.Module):
    """B x 3 x H x W in [0, 1] (no normalisation) -> Keypoints with value B x (5 num_tps) x 2 in (-1, 1)
    (a sigmoid mapped to (-1, 1)) and no jacobians; keypoints 5g .. 5g+4 belong to spline g."""

    def __init__(self, num_tps: int) -> None:
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = ResNet18(num_outputs=num_tps * 5 * 2)

    def forward(self, image: torch.Tensor) -> Keypoints:
        # The ResNet runs in the weights' dtype (a half-precision copy for fast inference); keypoints are float32
        # (float64 in a float64 model).
        out = at_least_float32(self.fg_encoder(image.to(self.fg_encoder.fc.weight.dtype)))
        return Keypoints(torch.sigmoid(out).mul(2).sub(1).view(out.shape[0], self.num_tps * 5, 2))
