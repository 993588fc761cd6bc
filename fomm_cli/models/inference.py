"""FOMM inference: the engine the animation pipeline drives, and the rewrites that make it fast.

``FommEngine`` implements ``fomm_cli.animate.InferenceEngine`` for a ``FirstOrderModel``: it works on a
rewritten copy of the model (below), optionally in half precision, and caches everything source-only
(encoder features, the dense-motion network's downscaled source).

Rewrites of a trained model, the same function with less work:

- ``fold_batchnorm`` merges every eval-mode BatchNorm that directly follows a convolution into the
  convolution's weights: the conv -> BN -> ReLU blocks, and the middle norm of each pre-activation residual
  block (conv1 -> norm2). The residual blocks' first norm stays: a ReLU sits between it and conv1.
- ``SubpixelUpBlock`` replaces "nearest 2x upsampling, then 3x3 conv" by four 2x2 convs on the small input,
  one per output phase, interleaved with a pixel shuffle: every output pixel sees the same input pixels with
  the same weights (summed where upsampling repeated a pixel), for 16 instead of 36 multiply-adds per
  input pixel and channel pair.

Results change only by float rounding (about 1e-6).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.models.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.model import FirstOrderModel


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """conv <- norm(conv(.)) for a BatchNorm in eval mode (running statistics)."""
    assert norm.running_mean is not None and norm.running_var is not None  # track_running_stats, as built
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    new_bias = (bias - norm.running_mean) * scale + norm.bias
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


# For output phase 0 the three kernel rows map onto input rows (i-1, i, i); for phase 1 onto (i, i, i+1).
_PHASE_TAPS = {0: ((0,), (1, 2)), 1: ((0, 1), (2,))}


class ConvBlock(Protocol):
    """A block whose first step is ``conv`` (FOMM's and TPSMM's up blocks)."""

    conv: nn.Conv2d


class SubpixelUpBlock(nn.Module):
    """An ``UpBlock2d`` (with its norm already folded) computed at the input resolution.

    Output pixel (2i + a, 2j + b) of conv3x3(upsample2x(x)) reads input rows {i-1, i} for a = 0 and {i, i+1}
    for a = 1 (columns likewise), so each phase is a 2x2 conv whose taps are sums of 3x3 taps. All four
    phases run as one 2x2 conv over the input padded by one pixel (phase (a, b) is its output shifted by
    (a, b)), and one strided copy interleaves them into a channels-last result.
    """

    def __init__(self, block: ConvBlock) -> None:
        super().__init__()
        assert block.conv.bias is not None
        weight, bias = block.conv.weight.detach(), block.conv.bias.detach()
        phases = []
        for a in (0, 1):
            for b in (0, 1):
                rows = [weight[:, :, list(taps), :].sum(dim=2) for taps in _PHASE_TAPS[a]]  # 2 x (out, in, 3)
                kernel = torch.stack([torch.stack([row[:, :, list(taps)].sum(dim=2) for taps in _PHASE_TAPS[b]],
                                                  dim=-1) for row in rows], dim=-2)  # out, in, 2, 2
                phases.append(kernel)
        self.weight = nn.Parameter(torch.cat(phases), requires_grad=False)  # (4 * out) x in x 2 x 2
        self.bias = nn.Parameter(bias.repeat(4), requires_grad=False)
        self.out_features = weight.shape[0]

    def upsampled_conv(self, x: torch.Tensor) -> torch.Tensor:
        """conv3x3(upsample2x(x)) before the activation: B x out x 2H x 2W, channels-last in memory."""
        out = self.out_features
        y = F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias)  # B x 4 out x (H + 1) x (W + 1)
        n, _, h, w = y.shape
        h, w = h - 1, w - 1
        result = y.new_empty(n, h, 2, w, 2, out)
        for index, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            result[:, :, a, :, b, :] = y[:, index * out:(index + 1) * out, a:a + h, b:b + w].permute(0, 2, 3, 1)
        return result.view(n, 2 * h, 2 * w, out).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu_(self.upsampled_conv(x))


def prepare_for_inference(model: FirstOrderModel, device: torch.device, channels_last: bool) -> FirstOrderModel:
    """A copy of ``model`` on ``device`` with BatchNorm folded and, optionally, channels-last weights (faster
    convolutions with oneDNN on CPU and cuDNN tensor cores). The caller's model is left as it is."""
    model = copy.deepcopy(model).eval()
    model.discriminator = None
    for module in model.modules():
        if isinstance(module, DownBlock2d | UpBlock2d | SameBlock2d) and isinstance(module.norm, nn.BatchNorm2d):
            fold_batchnorm(module.conv, module.norm)
            module.norm = nn.Identity()
        elif isinstance(module, ResBlock2d) and isinstance(module.norm2, nn.BatchNorm2d):
            fold_batchnorm(module.conv1, module.norm2)
            module.norm2 = nn.Identity()
    replace_modules(model, UpBlock2d, SubpixelUpBlock)
    return placed(model, device, channels_last)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def replace_modules(model: nn.Module, kind: type[ModuleT], replacement: Callable[[ModuleT], nn.Module]) -> None:
    """Swap every sub-module of ``model`` that is a ``kind`` for ``replacement(it)``, in place."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, kind):
                setattr(parent, name, replacement(child))


def placed(model: ModuleT, device: torch.device, channels_last: bool) -> ModuleT:
    """``model`` on ``device``, with channels-last weights if asked."""
    model = model.to(device)
    if channels_last:
        model = cast(Any, model).to(memory_format=torch.channels_last)  # torch's stub lacks memory_format
    return model


@dataclass
class FommSource:
    """Source-only state: the image (float32), encoder features, the dense-motion network's input."""

    image: torch.Tensor
    features: torch.Tensor
    small: torch.Tensor


class FommEngine:
    """A FOMM model ready for inference on one device; see ``fomm_cli.animate.InferenceEngine``.

    precision: "fp32", or "bf16"/"fp16" for a half-precision copy of the weights (convolutions in half
    precision; keypoint means, motion math and sampling stay float32).
    """

    has_avd = False

    def __init__(self, model: FirstOrderModel, device: torch.device, *, precision: str = "fp32",
                 channels_last: bool = True) -> None:
        self.model = prepare_for_inference(model, device, channels_last)
        if precision != "fp32":
            self.model.to(torch.bfloat16 if precision == "bf16" else torch.float16)
        self.device = device
        self.image_size = (int(model.config.image_size[0]), int(model.config.image_size[1]))

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        return self.model.kp_detector(images)

    def encode_source(self, image: torch.Tensor) -> FommSource:
        generator = self.model.generator
        small = generator.dense_motion_network.downscale(image) if generator.dense_motion_network else image
        return FommSource(image, generator.encode(image), small)

    def render(self, source: FommSource, kp_source: Keypoints, kp_driving: Keypoints) -> torch.Tensor:
        return self.model.generator.animate(source.features, source.small, kp_driving, kp_source, source.image)

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        raise NotImplementedError("FOMM models have no AVD network")
