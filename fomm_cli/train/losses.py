"""The FOMM training losses (Sec. 3.3 of the paper): functions of tensors, and two small modules for the
perceptual loss.

All images are B x C x H x W in [0, 1]. Every loss is returned already multiplied by its weight, as a
float32 scalar (float64 for a float64 model), so the total is their sum. Pyramids map a scale (1, 0.5, ...)
to the downscaled image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fomm_cli.models.blocks import AntiAliasDownsample, at_least_float32
from fomm_cli.models.discriminator import scale_key
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.vgg import Vgg19Features
from fomm_cli.train.transforms import RandomWarp

Pyramid = dict[float, torch.Tensor]
DiscOutput = dict[float, tuple[list[torch.Tensor], torch.Tensor]]


def _zero(like: torch.Tensor) -> torch.Tensor:
    """A scalar 0 to sum loss terms into: float32, or float64 for a float64 model."""
    return like.new_zeros((), dtype=torch.promote_types(like.dtype, torch.float32))


class ImagePyramid(nn.Module):
    """Anti-aliased downscaled copies of an image at the given scales (scale 1 is the image itself)."""

    def __init__(self, scales: Sequence[float], num_channels: int) -> None:
        super().__init__()
        self.scales = sorted({float(s) for s in scales}, reverse=True)
        self.downs = nn.ModuleDict({scale_key(s): AntiAliasDownsample(num_channels, s)
                                    for s in self.scales if s != 1})

    def forward(self, image: torch.Tensor) -> Pyramid:
        return {s: image if s == 1 else self.downs[scale_key(s)](image) for s in self.scales}


class PerceptualLoss(nn.Module):
    """Sum over scales and VGG-19 layers (relu1_1 ... relu5_1) of weight_i * mean |phi_i(fake) - phi_i(real)|."""

    def __init__(self, vgg: Vgg19Features, scales: Sequence[float], weights: Sequence[float]) -> None:
        super().__init__()
        self.vgg = vgg
        self.scales = [float(s) for s in scales]
        self.weights = list(weights)
        self.depth = max((i + 1 for i, w in enumerate(weights) if w), default=0)  # layers nobody weighs: skipped

    def forward(self, fake: Pyramid, real: Pyramid) -> torch.Tensor:
        total = _zero(fake[self.scales[0]])
        for scale in self.scales:
            fake_features = self.vgg(fake[scale], self.depth)
            with torch.no_grad():
                real_features = self.vgg(real[scale], self.depth)
            for weight, a, b in zip(self.weights, fake_features, real_features, strict=False):
                if weight:
                    total = total + weight * (at_least_float32(a) - at_least_float32(b)).abs().mean()
        return total


class PyramidL1Loss(nn.Module):
    """Sum over scales of weight * mean |fake - real|: the stand-in for VGG when no ImageNet weights are at hand."""

    def __init__(self, scales: Sequence[float], weight: float) -> None:
        super().__init__()
        self.scales = [float(s) for s in scales]
        self.weight = weight

    def forward(self, fake: Pyramid, real: Pyramid) -> torch.Tensor:
        total = _zero(fake[self.scales[0]])
        for scale in self.scales:
            total = total + self.weight * (at_least_float32(fake[scale]) - at_least_float32(real[scale])).abs().mean()
        return total


def equivariance_value_loss(kp_driving: Keypoints, kp_transformed: Keypoints, warp: RandomWarp,
                            weight: float) -> torch.Tensor:
    """weight * mean |p - T(p')|: keypoints found in the warped image, warped back, match the originals."""
    back = warp.warp_points(at_least_float32(kp_transformed.value))
    return weight * (at_least_float32(kp_driving.value) - back).abs().mean()


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
    moved = warp.jacobian(at_least_float32(kp_transformed.value)) @ at_least_float32(kp_transformed.jacobian)
    product = inverse_2x2(at_least_float32(kp_driving.jacobian)) @ moved
    eye = torch.eye(2, dtype=product.dtype, device=product.device)
    return weight * (eye - product).abs().mean()


def generator_gan_loss(fake: DiscOutput, weight: float) -> torch.Tensor:
    """LSGAN generator term: weight * sum over scales of mean (1 - D(fake))^2."""
    total = _zero(next(iter(fake.values()))[1])
    for _, prediction in fake.values():
        total = total + weight * ((1 - at_least_float32(prediction)) ** 2).mean()
    return total


def feature_matching_loss(fake: DiscOutput, real: DiscOutput, weights: Sequence[float]) -> torch.Tensor:
    """sum over scales and discriminator blocks of weight_i * mean |D_i(real) - D_i(fake)|."""
    total = _zero(next(iter(fake.values()))[1])
    for scale, (fake_features, _) in fake.items():
        for weight, a, b in zip(weights, real[scale][0], fake_features, strict=False):
            if weight:
                total = total + weight * (at_least_float32(a) - at_least_float32(b)).abs().mean()
    return total


def discriminator_loss(real: DiscOutput, fake: DiscOutput, weight: float) -> torch.Tensor:
    """LSGAN discriminator term: weight * sum over scales of mean ((1 - D(real))^2 + D(fake)^2)."""
    total = _zero(next(iter(real.values()))[1])
    for scale, (_, real_map) in real.items():
        fake_map = fake[scale][1]
        total = total + weight * ((1 - at_least_float32(real_map)) ** 2 + at_least_float32(fake_map) ** 2).mean()
    return total
