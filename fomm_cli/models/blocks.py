"""Building blocks shared by the FOMM networks, and the coordinate conventions they rely on.

Conventions:
- Feature maps are B x C x H x W.
- Coordinates and sampling follow ``fomm_cli.geometry``.
- Sub-module and parameter names mirror the official checkpoints, so their state dicts load unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.config import anti_alias_kernel_size


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32, or as it is when float64. The convolutions may run in half precision while keypoint
    means, motion and sampling need float32; a float64 model (how training is checked against the authors'
    code without float32 rounding) stays float64 throughout."""
    return x if x.dtype == torch.float64 else x.float()


class AntiAliasDownsample(nn.Module):
    """Gaussian blur followed by strided subsampling (band-limited downscaling by 1 / scale).

    The kernel is a persistent buffer named ``weight`` (C x 1 x k x k), as in the official checkpoints, with
    sigma = (1 / scale - 1) / 2 and k = 2 round(4 sigma) + 1.
    """

    weight: torch.Tensor

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = anti_alias_kernel_size(scale)
        self.pad = kernel_size // 2
        self.stride = int(1 / scale)
        self.groups = channels
        ax = torch.arange(kernel_size, dtype=torch.float32)
        g = torch.exp(-((ax - (kernel_size - 1) / 2) ** 2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.expand(channels, 1, kernel_size, kernel_size).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        out = F.conv2d(out, self.weight.to(out.dtype), groups=self.groups)
        return out[:, :, :: self.stride, :: self.stride]


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv twice), resolution preserved."""

    def __init__(self, features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(features, affine=True)
        self.norm2: nn.Module = nn.BatchNorm2d(features, affine=True)  # folded away for inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class UpBlock2d(nn.Module):
    """Nearest 2x upsampling, conv, BN, ReLU."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm: nn.Module = nn.BatchNorm2d(out_features, affine=True)  # folded away for inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2)
        return F.relu(self.norm(self.conv(out)))


class DownBlock2d(nn.Module):
    """Conv, BN, ReLU, 2x2 average pooling."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm: nn.Module = nn.BatchNorm2d(out_features, affine=True)  # folded away for inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class SameBlock2d(nn.Module):
    """Conv, BN, ReLU at the same resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm: nn.Module = nn.BatchNorm2d(out_features, affine=True)  # folded away for inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


def hourglass_width(block_expansion: int, max_features: int, level: int) -> int:
    """Channels after ``level`` halvings of an hourglass: min(max_features, block_expansion * 2**level)."""
    return min(max_features, block_expansion * 2**level)


class Encoder(nn.Module):
    """Hourglass encoder: returns the input and every down block's output (for skips). ``down_block(in, out)``
    builds each level (TPSMM's normalise per instance)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int,
                 down_block: Callable[[int, int], nn.Module] = DownBlock2d) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            down_block(
                in_features if i == 0 else hourglass_width(block_expansion, max_features, i),
                hourglass_width(block_expansion, max_features, i + 1),
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: upsample and concatenate the matching skip at every level."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                (1 if i == num_blocks - 1 else 2) * hourglass_width(block_expansion, max_features, i + 1),
                hourglass_width(block_expansion, max_features, i),
            )
            for i in reversed(range(num_blocks))
        )
        self.out_filters = block_expansion + in_features

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        out = skips[-1]
        for block, skip in zip(self.up_blocks, reversed(skips[:-1]), strict=True):
            out = torch.cat([block(out), skip], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style encoder-decoder; output has ``out_filters = block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256) -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
