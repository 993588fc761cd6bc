"""VGG-19 feature extractor for the perceptual loss (Johnson et al.), in plain torch.

The layers mirror the ``features`` block of torchvision's ``vgg19`` (and timm's ``vgg19``, which keeps the
same indices), so their ImageNet weights load by name: ``features.<i>.weight`` / ``features.<i>.bias``.
Only the layers up to relu5_1 (index 29) are built; the classifier is never needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

# Conv widths of VGG-19 ("M" = 2x2 max pooling), cut after conv5_1.
_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
# Indices in ``features`` of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: the five perceptual-loss taps.
TAPS = (1, 6, 11, 20, 29)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Vgg19Features(nn.Module):
    """Frozen VGG-19 trunk returning the relu1_1 ... relu5_1 activations.

    Input: B x 3 x H x W RGB in [0, 1]; ImageNet normalisation happens inside. Output: five feature maps
    with 64, 128, 256, 512, 512 channels at scales 1, 1/2, 1/4, 1/8, 1/16.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        # Not persistent: the weights files carry no normalisation constants.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Vgg19Features:
        # Always in eval mode (no dropout/BN here, but keep it explicit for wrappers that call .train()).
        return super().train(False)

    def forward(self, image: torch.Tensor, num_taps: int = len(TAPS)) -> list[torch.Tensor]:
        """The first ``num_taps`` activations (deeper layers are not computed)."""
        out = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        taps = []
        start = 0
        for end in TAPS[:num_taps]:
            for layer in list(self.features)[start:end + 1]:
                out = layer(out)
            taps.append(out)
            start = end + 1
        return taps


def select_vgg19_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pick the trunk's tensors out of a VGG-19 state dict and check their shapes.

    Accepts torchvision (``features.<i>.*``, ``classifier.*``), timm (``features.<i>.*``, ``pre_logits.*``,
    ``head.*``) and a bare ``features`` Sequential (``<i>.*``). Raises ``ValueError`` naming what is missing.
    """
    reference = Vgg19Features().state_dict()
    bare = not any(k.startswith("features.") for k in state)
    out: dict[str, torch.Tensor] = {}
    missing, wrong = [], []
    for key, expected in reference.items():
        source_key = key.removeprefix("features.") if bare else key
        tensor = state.get(source_key)
        if tensor is None:
            missing.append(source_key)
        elif tuple(tensor.shape) != tuple(expected.shape):
            wrong.append(f"{source_key} {tuple(tensor.shape)} != {tuple(expected.shape)}")
        else:
            out[key] = tensor.float()
    if missing or wrong:
        detail = f"missing {missing[:3]}" if missing else f"wrong shapes {wrong[:3]}"
        raise ValueError(f"not a VGG-19 state dict ({detail})")
    return out
