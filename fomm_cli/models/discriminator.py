"""Multi-scale patch discriminator (pix2pix style), optionally conditioned on keypoint heatmaps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.geometry import gaussian_heatmaps
from fomm_cli.models.blocks import hourglass_width


def scale_key(scale: float) -> str:
    """Official module key for a pyramid scale: 1 -> '1', 0.5 -> '0-5'."""
    scale = float(scale)
    return str(int(scale) if scale.is_integer() else scale).replace(".", "-")


class DiscriminatorBlock(nn.Module):
    """Conv (4x4, no padding, optional spectral norm), optional instance norm, LeakyReLU(0.2), optional pool."""

    def __init__(self, in_features: int, out_features: int, norm: bool, pool: bool, sn: bool) -> None:
        super().__init__()
        conv = nn.Conv2d(in_features, out_features, kernel_size=4)
        # The legacy spectral_norm keeps the official key names (weight_orig, weight_u, weight_v).
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, 2) if self.pool else out


class Discriminator(nn.Module):
    """Returns the feature maps of every block (for feature matching) and a patch prediction map."""

    def __init__(self, num_channels: int = 3, block_expansion: int = 64, num_blocks: int = 4,
                 max_features: int = 512, sn: bool = False, use_kp: bool = False, num_kp: int = 10,
                 kp_variance: float = 0.01) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DiscriminatorBlock(
                num_channels + num_kp * use_kp if i == 0 else hourglass_width(block_expansion, max_features, i),
                hourglass_width(block_expansion, max_features, i + 1),
                norm=i != 0, pool=i != num_blocks - 1, sn=sn,
            )
            for i in range(num_blocks)
        )
        conv = nn.Conv2d(hourglass_width(block_expansion, max_features, num_blocks), 1, kernel_size=1)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x: torch.Tensor, kp_value: torch.Tensor | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        out = x
        if self.use_kp:
            if kp_value is None:
                raise ValueError("this discriminator is conditioned on keypoints (use_kp)")
            out = torch.cat([out, gaussian_heatmaps(kp_value, x.shape[2], x.shape[3], self.kp_variance)], dim=1)
        features = []
        for block in self.down_blocks:
            out = block(out)
            features.append(out)
        return features, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One discriminator per pyramid scale; argument names follow the official ``discriminator_params``."""

    def __init__(self, scales: Sequence[float] = (1,), **kwargs: Any) -> None:
        super().__init__()
        self.scales = list(scales)
        self.discs = nn.ModuleDict({scale_key(s): Discriminator(**kwargs) for s in self.scales})

    def forward(self, pyramid: dict[float, torch.Tensor], kp_value: torch.Tensor | None = None
                ) -> dict[float, tuple[list[torch.Tensor], torch.Tensor]]:
        """pyramid: scale -> B x C x h x w image. Returns scale -> (feature maps, prediction map)."""
        return {s: self.discs[scale_key(s)](pyramid[s], kp_value) for s in self.scales}
