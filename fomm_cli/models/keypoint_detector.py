"""Unsupervised keypoint detector: heatmap softmax -> keypoint means, optional local jacobians."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.geometry import coordinate_grid
from fomm_cli.models.blocks import AntiAliasDownsample, Hourglass, at_least_float32
from fomm_cli.models.keypoints import Keypoints


class KeypointDetector(nn.Module):
    """Predicts K keypoints (and their 2 x 2 jacobians) from an image.

    Input: B x C x H x W in [0, 1]. The image is first downscaled by ``scale_factor`` with anti-aliasing,
    an hourglass predicts K heatmaps (softmax over space at ``temperature``), and each keypoint is the
    heatmap-weighted mean of the coordinate grid. Jacobians are heatmap-weighted averages of a predicted
    4-channel map per keypoint (or one shared map with ``single_jacobian_map``).

    Argument names follow the official ``kp_detector_params`` + ``common_params``.
    """

    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int,
                 num_blocks: int, temperature: float, estimate_jacobian: bool = False,
                 scale_factor: float = 1, single_jacobian_map: bool = False, pad: int = 0) -> None:
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features,
                                   num_blocks=num_blocks)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=7, padding=pad)
        self.num_kp = num_kp
        self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
        if estimate_jacobian:
            self.jacobian: nn.Conv2d | None = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                                        kernel_size=7, padding=pad)
            # Start from identity jacobians: training begins as a zero-order (translation) model.
            nn.init.zeros_(self.jacobian.weight)
            assert self.jacobian.bias is not None
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, scale_factor)

    def forward(self, image: torch.Tensor) -> Keypoints:
        x = self.down(image) if self.scale_factor != 1 else image
        # The convolutions run in the weights' dtype (a half-precision copy for fast inference); the softmax
        # and the keypoint means are always float32.
        features = self.predictor(x.to(self.kp.weight.dtype))
        logits = at_least_float32(self.kp(features))
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)

        grid = coordinate_grid(h, w, heatmap.dtype, heatmap.device)
        value = (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))

        jacobian = None
        if self.jacobian is not None:
            jac_map = at_least_float32(self.jacobian(features)).reshape(b, self.num_jacobian_maps, 4, h, w)
            jacobian = (heatmap.unsqueeze(2) * jac_map).view(b, k, 4, -1).sum(dim=-1).view(b, k, 2, 2)
        return Keypoints(value, jacobian)
