"""Occlusion-aware generator: encode the source, warp its features with the dense motion, decode."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fomm_cli.geometry import resize_map, warp
from fomm_cli.models.blocks import (
    DownBlock2d,
    ResBlock2d,
    SameBlock2d,
    UpBlock2d,
    at_least_float32,
    hourglass_width,
)
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

    ``occlusion_blend`` (ours, off in every official model) shows the warped source image itself where the
    occlusion map says it is visible, and the decoder's output only where it is not:
    ``prediction = occlusion * warped_source + (1 - occlusion) * decoded``, as the Thin-Plate-Spline Motion
    Model's inpainting network ends. Parts that only move come out as sharp as the source; the decoder is left
    to inpaint what the motion cannot explain.
    """

    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: dict | None = None, estimate_jacobian: bool = False,
                 align_corners: bool = False, occlusion_blend: bool = False) -> None:
        super().__init__()
        del estimate_jacobian  # part of common_params; the generator follows whatever keypoints it is given
        if occlusion_blend and not (estimate_occlusion_map and dense_motion_params is not None):
            raise ValueError("occlusion_blend needs a dense motion network with an occlusion map")
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
        self.up_blocks = nn.ModuleList(
            UpBlock2d(hourglass_width(block_expansion, max_features, num_down_blocks - i),
                      hourglass_width(block_expansion, max_features, num_down_blocks - i - 1))
            for i in range(num_down_blocks)
        )
        width = hourglass_width(block_expansion, max_features, num_down_blocks)
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(width, kernel_size=3, padding=1))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=7, padding=3)
        self.align_corners = align_corners
        self.occlusion_blend = occlusion_blend

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype: a half-precision copy computes its convolutions in that precision, while
        sampling and occlusion stay in float32."""
        return self.final.weight.dtype

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        """Source features before warping: B x C' x H / 2^d x W / 2^d (in the weights' dtype)."""
        out = self.first(source.to(self.dtype))
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(at_least_float32(self.final(out)))

    def warp(self, inputs: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        """Sample ``inputs`` (B x C x H x W) at ``deformation`` (B x h x w x 2), resized bilinearly to H x W.

        With ``align_corners`` the grid is resized corner to corner, which keeps an identity grid (pixel i at
        2i/(n-1) - 1) exactly the identity; without, it is resized as the reference code does.
        """
        return warp(inputs, deformation, align_corners=self.align_corners)

    def transform(self, features: torch.Tensor, motion: DenseMotion) -> torch.Tensor:
        """Warp source features and dim the occluded parts (Sec. 3.2); sampling runs in float32."""
        out = self.warp(at_least_float32(features).expand(motion.deformation.shape[0], -1, -1, -1), motion.deformation)
        if motion.occlusion_map is not None:
            # Resized edge to edge whatever the model's setting: the official code does, and every model
            # here (the demo's included) was trained that way.
            out = out * resize_map(motion.occlusion_map, out.shape[2:], align_corners=False)
        return out.to(features.dtype)

    def predict(self, features: torch.Tensor, deformed: torch.Tensor | None, motion: DenseMotion) -> torch.Tensor:
        """Decode the warped features; with ``occlusion_blend``, show ``deformed`` (the warped source image,
        float32) where the occlusion map is 1."""
        decoded = self.decode(self.transform(features, motion))
        if not self.occlusion_blend:
            return decoded
        assert deformed is not None and motion.occlusion_map is not None  # __init__ and the callers see to it
        occlusion = resize_map(at_least_float32(motion.occlusion_map), decoded.shape[2:],
                               align_corners=self.align_corners)
        return occlusion * deformed + (1 - occlusion) * decoded

    def animate(self, features: torch.Tensor, source_small: torch.Tensor, kp_driving: Keypoints,
                kp_source: Keypoints, source: torch.Tensor) -> torch.Tensor:
        """Fast path for inference: ``features`` = encode(source), ``source_small`` = the dense motion
        network's downscaled source, both computed once; ``source``: the 1 x C x H x W float32 image.
        Returns B x C x H x W predictions."""
        if self.dense_motion_network is None:
            return self.decode(features.expand(kp_driving.value.shape[0], -1, -1, -1))
        motion = self.dense_motion_network(source_small, kp_driving, kp_source)
        deformed = None
        if self.occlusion_blend:
            batch = motion.deformation.shape[0]
            deformed = self.warp(at_least_float32(source).expand(batch, -1, -1, -1), motion.deformation)
        return self.predict(features, deformed, motion)

    def forward(self, source: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> GeneratorOutput:
        features = self.encode(source)
        if self.dense_motion_network is None:
            return GeneratorOutput(self.decode(features))
        motion = self.dense_motion_network(self.dense_motion_network.downscale(source), kp_driving, kp_source)
        deformed = self.warp(at_least_float32(source), motion.deformation)
        return GeneratorOutput(self.predict(features, deformed, motion), deformed, motion)
