"""Building blocks of the TPSMM networks: the FOMM blocks with instance normalisation (affine, no running
statistics), and an hourglass whose decoder returns every level (the multi-resolution occlusion masks read
the last ones). Module names mirror the reference checkpoints."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.models.blocks import Encoder, hourglass_width


class ResBlock2d(nn.Module):
    """Pre-activation residual block (IN-ReLU-conv twice), resolution preserved."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.norm1 = nn.InstanceNorm2d(features, affine=True)
        self.norm2 = nn.InstanceNorm2d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class UpBlock2d(nn.Module):
    """Nearest 2x upsampling, 3x3 conv, IN, ReLU."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2))))


class DownBlock2d(nn.Module):
    """3x3 conv, IN, ReLU, 2x2 average pooling."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class SameBlock2d(nn.Module):
    """Conv, IN, ReLU at the same resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=kernel_size // 2)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class Decoder(nn.Module):
    """Hourglass decoder returning every level, coarsest first: level j is the (j+1)-th up block's output
    concatenated with the matching skip. ``out_channels[j]`` is the channel count of level j."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        inputs = [(1 if i == num_blocks - 1 else 2) * hourglass_width(block_expansion, max_features, i + 1)
                  for i in reversed(range(num_blocks))]
        self.up_blocks = nn.ModuleList(
            UpBlock2d(width, hourglass_width(block_expansion, max_features, i))
            for width, i in zip(inputs, reversed(range(num_blocks)), strict=True)
        )
        self.out_channels = [*inputs[1:], block_expansion + in_features]

    def forward(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        out = skips[-1]
        levels = []
        for block, skip in zip(self.up_blocks, reversed(skips[:-1]), strict=True):
            out = torch.cat([block(out), skip], dim=1)
            levels.append(out)
        return levels


class Hourglass(nn.Module):
    """U-Net: input B x in_features x h x w (h, w divisible by 2**num_blocks) -> the decoder's levels, the last
    at h x w with ``block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, DownBlock2d)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.decoder(self.encoder(x))
