"""The FOMM training losses (Sec. 3.3 of the paper) as plain functions of tensors.

All images are B x C x H x W in [0, 1]. Every loss is returned already multiplied by its weight, as a
float32 scalar, so the total is their sum. Pyramids map a scale (1, 0.5, ...) to the downscaled image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fomm_cli.models.blocks import AntiAliasDownsample
from fomm_cli.models.discriminator import scale_key
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.vgg import Vgg19Features
from fomm_cli.train.transforms import RandomWarp

Pyramid = dict[float, torch.Tensor]
DiscOutput = dict[float, tuple[list[torch.Tensor], torch.Tensor]]


class ImagePyramid(nn.Module):
    """Anti-aliased downscaled copies of an image at the given scales (scale 1 is the image itself)."""

    def __init__(self, scales: Sequence[float], num_channels: int) -> None:
        super().__init__()
        self.scales = sorted({float(s) for s in scales}, reverse=True)
        self.downs = nn.ModuleDict({scale_key(s): AntiAliasDownsample(num_channels, s)
                                    for s in self.scales if s != 1})

    def forward(self, image: torch.Tensor) -> Pyramid:
        return {s: image if s == 1 else self.downs[scale_key(s)](image) for s in self.scales}


def perceptual_loss(vgg: Vgg19Features, fake: Pyramid, real: Pyramid, scales: Sequence[float],
                    weights: Sequence[float]) -> torch.Tensor:
    """Sum over scales and VGG-19 layers (relu1_1 ... relu5_1) of weight_i * mean |phi_i(fake) - phi_i(real)|."""
    total = fake[float(scales[0])].new_zeros((), dtype=torch.float32)
    depth = max((i + 1 for i, w in enumerate(weights) if w), default=0)  # skip layers nobody weighs
    for scale in scales:
        fake_features = vgg(fake[float(scale)], depth)
        with torch.no_grad():
            real_features = vgg(real[float(scale)], depth)
        for weight, a, b in zip(weights, fake_features, real_features, strict=False):
            if weight:
                total = total + weight * (a.float() - b.float()).abs().mean()
    return total


def pyramid_l1_loss(fake: Pyramid, real: Pyramid, scales: Sequence[float], weight: float) -> torch.Tensor:
    """Sum over scales of weight * mean |fake - real| (the ``--perceptual l1`` stand-in for VGG)."""
    total = fake[float(scales[0])].new_zeros((), dtype=torch.float32)
    for scale in scales:
        total = total + weight * (fake[float(scale)].float() - real[float(scale)].float()).abs().mean()
    return total


def equivariance_value_loss(kp_driving: Keypoints, kp_transformed: Keypoints, warp: RandomWarp,
                            weight: float) -> torch.Tensor:
    """weight * mean |p - T(p')|: keypoints found in the warped image, warped back, match the originals."""
    back = warp.warp_points(kp_transformed.value.float())
    return weight * (kp_driving.value.float() - back).abs().mean()


def inverse_2x2(m: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of ... x 2 x 2 matrices (faster than torch.inverse for tiny batches)."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    return torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[..., None, None]


def equivariance_jacobian_loss(kp_driving: Keypoints, kp_transformed: Keypoints, warp: RandomWarp,
                               weight: float) -> torch.Tensor:
    """weight * mean |I - J_p^-1 (dT/dz(p') J_p')|: local affine frames agree under the warp."""
    if kp_driving.jacobian is None or kp_transformed.jacobian is None:
        raise ValueError("the jacobian equivariance loss needs a model with estimate_jacobian")
    moved = warp.jacobian(kp_transformed.value.float()) @ kp_transformed.jacobian.float()
    product = inverse_2x2(kp_driving.jacobian.float()) @ moved
    eye = torch.eye(2, dtype=product.dtype, device=product.device)
    return weight * (eye - product).abs().mean()


def generator_gan_loss(fake: DiscOutput, weight: float) -> torch.Tensor:
    """LSGAN generator term: weight * sum over scales of mean (1 - D(fake))^2."""
    maps = [prediction for _, prediction in fake.values()]
    return weight * sum(((1 - m.float()) ** 2).mean() for m in maps)  # type: ignore[return-value]


def feature_matching_loss(fake: DiscOutput, real: DiscOutput, weights: Sequence[float]) -> torch.Tensor:
    """sum over scales and discriminator blocks of weight_i * mean |D_i(real) - D_i(fake)|."""
    total = next(iter(fake.values()))[1].new_zeros((), dtype=torch.float32)
    for scale, (fake_features, _) in fake.items():
        for weight, a, b in zip(weights, real[scale][0], fake_features, strict=False):
            if weight:
                total = total + weight * (a.float() - b.float()).abs().mean()
    return total


def discriminator_loss(real: DiscOutput, fake: DiscOutput, weight: float) -> torch.Tensor:
    """LSGAN discriminator term: weight * sum over scales of mean ((1 - D(real))^2 + D(fake)^2)."""
    total = next(iter(real.values()))[1].new_zeros((), dtype=torch.float32)
    for scale, (_, real_map) in real.items():
        fake_map = fake[scale][1]
        total = total + weight * ((1 - real_map.float()) ** 2 + fake_map.float() ** 2).mean()
    return total
