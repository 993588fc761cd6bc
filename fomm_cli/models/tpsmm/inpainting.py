"""TPSMM inpainting network: encode the source, warp every encoder level with the optical flow, mask it with
the occlusion mask of its resolution, and decode with the warped levels as skips."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fomm_cli.geometry import resize_map, warp
from fomm_cli.models.blocks import at_least_float32, hourglass_width
from fomm_cli.models.tpsmm.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from fomm_cli.models.tpsmm.dense_motion import TPSDenseMotion


@dataclass
class InpaintingOutput:
    """prediction: B x C x H x W in [0, 1]; deformed: the source warped by the flow (B x C x H x W);
    warped_features: the warped and masked encoder levels, coarsest first, detached from the features and the
    masks (the warp loss trains the flow through them)."""

    prediction: torch.Tensor
    deformed: torch.Tensor
    warped_features: list[torch.Tensor]


class InpaintingNetwork(nn.Module):
    """Argument names follow the reference ``generator_params`` + ``common_params``. Sampling and the
    occlusion masks use ``align_corners=True``, as the reference does; they run in float32, the convolutions
    in the weights' dtype."""

    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_down_blocks: int,
                 multi_mask: bool = True) -> None:
        super().__init__()
        self.num_down_blocks = num_down_blocks
        self.multi_mask = multi_mask
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7)
        widths = [hourglass_width(block_expansion, max_features, i) for i in range(num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[i], widths[i + 1]) for i in range(num_down_blocks))
        # Decoder level j (coarsest first) takes level d - j of the encoder, doubled by the skip except at j = 0.
        inputs = [widths[num_down_blocks - j] * (1 if j == 0 else 2) for j in range(num_down_blocks)]
        self.up_blocks = nn.ModuleList(UpBlock2d(inputs[j], widths[num_down_blocks - j - 1])
                                       for j in range(num_down_blocks))
        self.resblock = nn.ModuleList(ResBlock2d(inputs[j // 2]) for j in range(2 * num_down_blocks))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=7, padding=3)
        self.num_channels = num_channels

    @property
    def dtype(self) -> torch.dtype:
        return self.final.weight.dtype

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Encoder levels of B x C x H x W images, finest first: H, H/2, ... H/2^d (in the weights' dtype)."""
        levels = [self.first(image.to(self.dtype))]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        return levels

    def _mask(self, features: torch.Tensor, masks: list[torch.Tensor], index: int) -> torch.Tensor:
        """``features`` times the occlusion mask of decoder level ``index`` (the single mask, resized, without
        multi-resolution masks)."""
        if not self.multi_mask:
            return features * resize_map(masks[0], features.shape[2:], align_corners=True)
        return features * masks[index]

    def _warp(self, features: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        features = at_least_float32(features).expand(deformation.shape[0], -1, -1, -1)
        return warp(features, deformation, align_corners=True)

    def decode(self, levels: list[torch.Tensor], source: torch.Tensor, motion: TPSDenseMotion,
               warped_features: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prediction and the warped source, B x C x H x W, from encoder ``levels`` (of one source, or of B) and
        ``source`` (1 or B x C x H x W, float32). Appends the detached warped levels to ``warped_features``
        when given (training)."""
        deformation, masks = motion.deformation, motion.occlusion_maps

        def warped(index: int, level: torch.Tensor) -> torch.Tensor:
            if warped_features is not None:
                detached = [m.detach() for m in masks]
                warped_features.append(self._mask(self._warp(level.detach(), deformation), detached, index))
            return self._mask(self._warp(level, deformation), masks, index)

        out = warped(0, levels[-1]).to(self.dtype)
        for j in range(self.num_down_blocks):
            out = self.up_blocks[j](self.resblock[2 * j + 1](self.resblock[2 * j](out)))
            skip = warped(j + 1, levels[-(j + 2)])
            if j < self.num_down_blocks - 1:
                out = torch.cat([out, skip.to(self.dtype)], dim=1)
        last = masks[-1] if self.multi_mask else resize_map(masks[-1], out.shape[2:], align_corners=True)
        deformed = self._warp(source, deformation)
        out = torch.sigmoid(at_least_float32(self.final((at_least_float32(out) * (1 - last) + skip).to(self.dtype))))
        return out * (1 - last) + deformed * last, deformed

    def forward(self, source: torch.Tensor, motion: TPSDenseMotion) -> InpaintingOutput:
        warped_features: list[torch.Tensor] = []
        prediction, deformed = self.decode(self.encode(source), source, motion, warped_features)
        return InpaintingOutput(prediction, deformed, warped_features)

    def encode_driving(self, driving: torch.Tensor, masks: list[torch.Tensor]) -> list[torch.Tensor]:
        """The driving frame's encoder levels, finest first, each masked by the occlusion mask of its
        resolution, all detached: the targets of the warp loss (compare with ``warped_features`` reversed)."""
        masks = [m.detach() for m in masks]
        out = self.first(driving)
        levels = [self._mask(out.detach(), masks, len(masks) - 1)]
        for i, block in enumerate(self.down_blocks):
            out = block(out.detach())
            levels.append(self._mask(out.detach(), masks, len(masks) - 2 - i))
        return levels
