"""Occlusion-aware generator: encode the source, warp its features with the dense motion, decode."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.models.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, hourglass_width
from fomm_cli.models.dense_motion import DenseMotion, DenseMotionNetwork
from fomm_cli.models.keypoints import Keypoints


@dataclass
class GeneratorOutput:
    """prediction: B x C x H x W in [0, 1]; deformed: the source image warped by the dense motion
    (None without a dense motion network); motion: the dense motion outputs."""

    prediction: torch.Tensor
    deformed: torch.Tensor | None = None
    motion: DenseMotion | None = None


class OcclusionAwareGenerator(nn.Module):
    """Johnson-style encoder / residual bottleneck / decoder with feature warping in between.

    Argument names follow the official ``generator_params`` + ``common_params``. The source-only parts
    (``encode`` and ``dense_motion_network.downscale``) are exposed so a pipeline can run them once per
    source and reuse them for every driving frame.

    ``skip_connections`` (ours, off in every official model) also warps the encoder's finer feature maps
    and concatenates each, occluded, after the up block of its resolution, as the Thin-Plate-Spline Motion
    Model's generator does. The decoder then sees the warped source at full resolution instead of
    rebuilding every detail from the coarsest map, which is what limits a small model's sharpness.
    """

    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: dict | None = None, estimate_jacobian: bool = False,
                 align_corners: bool = False, skip_connections: bool = False) -> None:
        super().__init__()
        del estimate_jacobian  # part of common_params; the generator follows whatever keypoints it is given
        self.dense_motion_network = (
            DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                               estimate_occlusion_map=estimate_occlusion_map, align_corners=align_corners,
                               **dense_motion_params)
            if dense_motion_params is not None else None
        )
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock2d(hourglass_width(block_expansion, max_features, i),
                        hourglass_width(block_expansion, max_features, i + 1))
            for i in range(num_down_blocks)
        )
        # With skips, every up block but the first also reads the skip concatenated after the previous one.
        widen = 2 if skip_connections else 1
        self.up_blocks = nn.ModuleList(
            UpBlock2d(hourglass_width(block_expansion, max_features, num_down_blocks - i) * (widen if i else 1),
                      hourglass_width(block_expansion, max_features, num_down_blocks - i - 1))
            for i in range(num_down_blocks)
        )
        width = hourglass_width(block_expansion, max_features, num_down_blocks)
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(width, kernel_size=3, padding=1))
        self.final = nn.Conv2d(block_expansion * (widen if num_down_blocks else 1), num_channels,
                               kernel_size=7, padding=3)
        self.align_corners = align_corners
        self.skip_connections = skip_connections

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype: a half-precision copy computes its convolutions in that precision, while
        sampling and occlusion stay in float32."""
        return self.final.weight.dtype

    def encode(self, source: torch.Tensor) -> list[torch.Tensor]:
        """Source features before warping (in the weights' dtype), finest first: with skip connections one
        map per resolution (level l is B x C_l x H / 2^l x W / 2^l), otherwise only the coarsest."""
        out = self.first(source.to(self.dtype))
        levels = [out]
        for block in self.down_blocks:
            out = block(out)
            levels.append(out)
        return levels if self.skip_connections else levels[-1:]

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Warped ``encode`` output -> B x C x H x W in [0, 1]."""
        out = self.bottleneck(features[-1])
        skips = features[-2::-1]  # finer levels, coarsest first; empty without skip connections
        for i, block in enumerate(self.up_blocks):
            out = block(out)
            if i < len(skips):
                out = torch.cat([out, skips[i]], dim=1)
        return torch.sigmoid(self.final(out).float())

    def warp(self, inputs: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        """Sample ``inputs`` (B x C x H x W) at ``deformation`` (B x h x w x 2), resized bilinearly to H x W.

        With ``align_corners`` the grid is resized corner to corner, which keeps an identity grid (pixel i at
        2i/(n-1) - 1) exactly the identity; without, it is resized as the reference code does.
        """
        h, w = inputs.shape[2:]
        if deformation.shape[1:3] != (h, w):
            deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear",
                                        align_corners=self.align_corners).permute(0, 2, 3, 1)
        return F.grid_sample(inputs, deformation, align_corners=self.align_corners)

    def transform(self, features: list[torch.Tensor], motion: DenseMotion) -> list[torch.Tensor]:
        """Warp each source feature map and dim the occluded parts (Sec. 3.2); sampling runs in float32."""
        return [self._warp_and_occlude(level, motion) for level in features]

    def _warp_and_occlude(self, features: torch.Tensor, motion: DenseMotion) -> torch.Tensor:
        out = self.warp(features.float().expand(motion.deformation.shape[0], -1, -1, -1), motion.deformation)
        if motion.occlusion_map is not None:
            occlusion = motion.occlusion_map
            if occlusion.shape[2:] != out.shape[2:]:
                occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear", align_corners=False)
            out = out * occlusion
        return out.to(features.dtype)

    def animate(self, features: torch.Tensor, source_small: torch.Tensor, kp_driving: Keypoints,
                kp_source: Keypoints) -> torch.Tensor:
        """Fast path for inference: ``features`` = encode(source), ``source_small`` = the dense motion
        network's downscaled source, both computed once. Returns B x C x H x W predictions."""
        if self.dense_motion_network is None:
            return self.decode([level.expand(kp_driving.value.shape[0], -1, -1, -1) for level in features])
        motion = self.dense_motion_network(source_small, kp_driving, kp_source)
        return self.decode(self.transform(features, motion))

    def forward(self, source: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> GeneratorOutput:
        features = self.encode(source)
        if self.dense_motion_network is None:
            return GeneratorOutput(self.decode(features))
        motion = self.dense_motion_network(self.dense_motion_network.downscale(source), kp_driving, kp_source)
        prediction = self.decode(self.transform(features, motion))
        return GeneratorOutput(prediction, self.warp(source, motion.deformation), motion)
