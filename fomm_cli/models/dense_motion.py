"""Dense motion network: from sparse keypoint motions to a dense deformation and occlusion map."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.geometry import coordinate_grid, gaussian_heatmaps, sample
from fomm_cli.models.blocks import AntiAliasDownsample, Hourglass, at_least_float32
from fomm_cli.models.keypoints import Keypoints


@dataclass
class DenseMotion:
    """Outputs of the dense motion network, all at the network's (downscaled) resolution h x w.

    deformation: B x h x w x 2, for each driving pixel the (x, y) in [-1, 1] to sample in the source.
    mask: B x (K+1) x h x w softmax weights of the background and K local motions.
    sparse_deformed: B x (K+1) x C x h x w source warped by each local motion.
    occlusion_map: B x 1 x h x w in [0, 1], or None.
    """

    deformation: torch.Tensor
    mask: torch.Tensor
    sparse_deformed: torch.Tensor
    occlusion_map: torch.Tensor | None


class DenseMotionNetwork(nn.Module):
    """Predicts T_{S<-D} as a soft combination of K first-order local motions plus the identity.

    ``align_corners`` is passed to ``grid_sample``; the reference code ran with the torch >= 1.3 default
    (False), which is what the official checkpoints produce their published results with.
    """

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int, num_channels: int,
                 estimate_occlusion_map: bool = False, scale_factor: float = 1, kp_variance: float = 0.01,
                 align_corners: bool = False) -> None:
        super().__init__()
        self.hourglass = Hourglass(block_expansion, in_features=(num_kp + 1) * (num_channels + 1),
                                   max_features=max_features, num_blocks=num_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3)
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, scale_factor)

    def downscale(self, source: torch.Tensor) -> torch.Tensor:
        """The source at the network's working resolution (depends on the source only: cache it)."""
        return self.down(source) if self.scale_factor != 1 else source

    def sparse_motions(self, h: int, w: int, kp_driving: Keypoints, kp_source: Keypoints) -> torch.Tensor:
        """Eq. 4: B x (K+1) x h x w x 2 sampling grids, identity first, then one per keypoint.

        z -> kp_source + J_source J_driving^-1 (z - kp_driving)
        """
        b = kp_driving.value.shape[0]
        identity = coordinate_grid(h, w, kp_driving.value.dtype, kp_driving.value.device)
        offset = identity.view(1, 1, h, w, 2) - kp_driving.value.view(b, self.num_kp, 1, 1, 2)
        if kp_driving.jacobian is not None and kp_source.jacobian is not None:
            jacobian = torch.matmul(kp_source.jacobian, torch.inverse(kp_driving.jacobian))
            offset = torch.einsum("bkij,bkhwj->bkhwi", jacobian, offset)
        driving_to_source = offset + kp_source.value.view(-1, self.num_kp, 1, 1, 2)
        return torch.cat([identity.expand(b, 1, h, w, 2), driving_to_source], dim=1)

    def forward(self, source_small: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> DenseMotion:
        """source_small: the source after ``downscale`` (1 x C x h x w or B x C x h x w)."""
        b = kp_driving.value.shape[0]
        _, c, h, w = source_small.shape
        source_small = source_small.expand(b, c, h, w)

        # Eq. 6: difference of Gaussians around driving and source keypoints, zero for the background.
        heatmaps = (gaussian_heatmaps(kp_driving.value, h, w, self.kp_variance)
                    - gaussian_heatmaps(kp_source.value, h, w, self.kp_variance))
        heatmaps = torch.cat([heatmaps.new_zeros(b, 1, h, w), heatmaps], dim=1)

        motions = self.sparse_motions(h, w, kp_driving, kp_source)
        k1 = self.num_kp + 1
        sources = source_small.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        deformed = sample(sources, motions.reshape(b * k1, h, w, 2), align_corners=self.align_corners)
        deformed = deformed.view(b, k1, c, h, w)

        # The hourglass runs in the weights' dtype (a half-precision copy for fast inference); keypoint
        # geometry, softmax and the resulting sampling grid stay in float32.
        inputs = torch.cat([heatmaps.unsqueeze(2), deformed], dim=2).view(b, -1, h, w)
        features = self.hourglass(inputs.to(self.mask.weight.dtype))
        mask = F.softmax(at_least_float32(self.mask(features)), dim=1)
        deformation = torch.einsum("bkhw,bkhwi->bhwi", mask, motions)
        occlusion = torch.sigmoid(at_least_float32(self.occlusion(features))) if self.occlusion is not None else None
        return DenseMotion(deformation, mask, deformed, occlusion)
