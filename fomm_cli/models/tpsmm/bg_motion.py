"""Background motion predictor: one affine transform of the whole frame, from the source and driving images."""

from __future__ import annotations

import torch
from torch import nn

from fomm_cli.models.blocks import at_least_float32
from fomm_cli.models.tpsmm.resnet import ResNet18


class BGMotionPredictor(nn.Module):
    """(source, driving), each B x 3 x H x W in [0, 1] -> B x 3 x 3 affine matrices (last row 0 0 1) that map
    driving coordinates to source coordinates. The regression starts at the identity."""

    def __init__(self) -> None:
        super().__init__()
        self.bg_encoder = ResNet18(num_outputs=6, in_channels=6)
        # The reference swaps in a fresh 6-channel first convolution (PyTorch's default init, not He's).
        self.bg_encoder.conv1.reset_parameters()
        nn.init.zeros_(self.bg_encoder.fc.weight)
        with torch.no_grad():
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        b = source.shape[0]
        weights = self.bg_encoder.fc.weight
        prediction = at_least_float32(self.bg_encoder(torch.cat([source, driving], dim=1).to(weights.dtype)))
        out = torch.eye(3, dtype=prediction.dtype, device=prediction.device).repeat(b, 1, 1)
        out[:, :2, :] = prediction.view(b, 2, 3)
        return out
