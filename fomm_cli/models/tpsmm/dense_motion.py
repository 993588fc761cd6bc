"""TPSMM dense motion network: K thin-plate-spline motions and the background motion, combined per pixel into
an optical flow, plus occlusion masks at several resolutions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.geometry import coordinate_grid, gaussian_heatmaps, sample
from fomm_cli.models.blocks import AntiAliasDownsample, at_least_float32
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.tpsmm.blocks import Hourglass, UpBlock2d
from fomm_cli.models.tpsmm.tps import ThinPlateSpline

# Occlusion masks of the multi-resolution variant: one per inpainting level (it has 3 down blocks).
NUM_OCCLUSION_MASKS = 4


@dataclass
class TPSDenseMotion:
    """Outputs of the dense motion network at its working resolution h x w (the source downscaled).

    deformation: B x h x w x 2, for each driving pixel the (x, y) in [-1, 1] to sample in the source.
    contribution_maps: B x (K+1) x h x w softmax weights of the background and the K spline motions.
    deformed_source: B x (K+1) x C x h x w, the source warped by each motion.
    occlusion_maps: B x 1 x h_i x w_i masks in [0, 1], coarsest first (one, or four from h/2 to 4h with the
    multi-resolution masks at scale factor 0.25).
    """

    deformation: torch.Tensor
    contribution_maps: torch.Tensor
    deformed_source: torch.Tensor
    occlusion_maps: list[torch.Tensor]


class DenseMotionNetwork(nn.Module):
    """Predicts the backward flow T_{S<-D} as a softmax-weighted combination of the background motion (the
    identity, or an affine ``bg_param``) and ``num_tps`` thin-plate splines, each fitted to 5 keypoints.

    Argument names follow the reference ``dense_motion_params`` + ``common_params``. Sampling uses
    ``align_corners=True``, as the reference does.
    """

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_tps: int, num_channels: int,
                 scale_factor: float = 0.25, multi_mask: bool = True, kp_variance: float = 0.01) -> None:
        super().__init__()
        if scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, scale_factor)
        self.scale_factor = scale_factor
        self.multi_mask = multi_mask
        self.num_tps = num_tps
        self.kp_variance = kp_variance
        self.hourglass = Hourglass(block_expansion, in_features=num_channels * (num_tps + 1) + num_tps * 5 + 1,
                                   max_features=max_features, num_blocks=num_blocks)
        channels = self.hourglass.out_channels
        self.maps = nn.Conv2d(channels[-1], num_tps + 1, kernel_size=7, padding=3)
        if multi_mask:
            # The finest levels of the hourglass, then up blocks past its resolution up to the image's.
            self.up_nums = int(math.log(1 / scale_factor, 2))
            widths = [channels[-1] // 2**i for i in range(self.up_nums + 1)]
            self.up = nn.ModuleList(UpBlock2d(widths[i], widths[i + 1]) for i in range(self.up_nums))
            mask_inputs = channels[len(channels) - (NUM_OCCLUSION_MASKS - self.up_nums):] + widths[1:]
        else:
            self.up_nums = 0
            self.up = nn.ModuleList()
            mask_inputs = channels[-1:]
        self.occlusion = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=7, padding=3) for c in mask_inputs)

    def downscale(self, source: torch.Tensor) -> torch.Tensor:
        """The source at the network's working resolution (depends on the source only: cache it)."""
        return self.down(source) if self.scale_factor != 1 else source

    def transformations(self, h: int, w: int, kp_driving: Keypoints, kp_source: Keypoints,
                        bg_param: torch.Tensor | None = None) -> torch.Tensor:
        """B x (K+1) x h x w x 2 sampling grids: the background motion first, then one per spline."""
        b = kp_driving.value.shape[0]
        grid = coordinate_grid(h, w, kp_driving.value.dtype, kp_driving.value.device)
        spline = ThinPlateSpline.fit(kp_driving.value.view(b, -1, 5, 2), kp_source.value.view(b, -1, 5, 2))
        driving_to_source = spline(grid.view(-1, 2)).view(b, -1, h, w, 2)
        background = grid.expand(b, 1, h, w, 2)
        if bg_param is not None:
            homogeneous = torch.cat([background, background.new_ones(b, 1, h, w, 1)], dim=-1)
            mapped = torch.matmul(bg_param.view(b, 1, 1, 1, 3, 3), homogeneous.unsqueeze(-1)).squeeze(-1)
            background = mapped[..., :2] / mapped[..., 2:3]
        return torch.cat([background, driving_to_source], dim=1)

    def forward(self, source_small: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints,
                bg_param: torch.Tensor | None = None, keep: torch.Tensor | None = None) -> TPSDenseMotion:
        """source_small: the source after ``downscale`` (1 or B x C x h x w); keypoints B x 5K x 2.
        bg_param: B x 3 x 3 background transforms (None: the identity). keep (training's dropout, paper
        Eq. 7-8): B x (K+1), 1 for the motions that take part and 0 for those dropped, the background's always 1;
        the softmax then runs over the kept motions with the reference's 1e-6 in its denominator."""
        b = kp_driving.value.shape[0]
        _, c, h, w = source_small.shape
        k1 = self.num_tps + 1

        heatmaps = (gaussian_heatmaps(kp_driving.value, h, w, self.kp_variance)
                    - gaussian_heatmaps(kp_source.value, h, w, self.kp_variance))
        heatmaps = torch.cat([heatmaps.new_zeros(b, 1, h, w), heatmaps], dim=1)

        motions = self.transformations(h, w, kp_driving, kp_source, bg_param)
        sources = source_small.expand(b, c, h, w).unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        deformed = sample(sources, motions.reshape(b * k1, h, w, 2), align_corners=True).view(b, k1, c, h, w)

        # The hourglass runs in the weights' dtype (a half-precision copy for fast inference); the splines,
        # the softmax and the resulting flow stay float32 (float64 in a float64 model).
        inputs = torch.cat([heatmaps, deformed.view(b, -1, h, w)], dim=1).to(self.maps.weight.dtype)
        levels = self.hourglass(inputs)
        logits = at_least_float32(self.maps(levels[-1]))
        contribution = F.softmax(logits, dim=1) if keep is None else _dropout_softmax(logits, keep)
        deformation = torch.einsum("bkhw,bkhwi->bhwi", contribution, motions)

        from_levels = len(self.occlusion) - self.up_nums  # masks read off the finest hourglass levels
        masks = [torch.sigmoid(at_least_float32(conv(level)))
                 for conv, level in zip(self.occlusion[:from_levels], levels[len(levels) - from_levels:], strict=True)]
        out = levels[-1]
        for up, conv in zip(self.up, self.occlusion[from_levels:], strict=True):
            out = up(out)
            masks.append(torch.sigmoid(at_least_float32(conv(out))))
        return TPSDenseMotion(deformation, contribution, deformed, masks)


def _dropout_softmax(logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 of the motions ``keep`` (B x (K+1), 0 or 1) keeps, as the reference computes it:
    exp(x - max) of the kept motions over their sum + 1e-6."""
    exp = (logits - logits.max(dim=1, keepdim=True).values).exp() * keep.to(logits.dtype)[:, :, None, None]
    return exp / (exp.sum(dim=1, keepdim=True) + 1e-6)
