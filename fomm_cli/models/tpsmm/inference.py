"""TPSMM inference: the engine the animation pipeline drives (``fomm_cli.animate``), on a prepared copy of
the model.

- Everything source-only is computed once per source: its keypoints (by the pipeline), the inpainting
  encoder's levels and the dense motion network's downscaled source.
- Driving frames run in batches (instance norm is per sample, so batching changes nothing).
- The ResNet-18 BatchNorms fold into the preceding convolutions (eval-mode statistics are constants).
- "Nearest 2x upsampling, then 3x3 conv" runs as four 2x2 convolutions at the input resolution, interleaved
  (``fomm_cli.models.inference.SubpixelUpBlock``; 16 instead of 36 multiply-adds per input pixel and channel
  pair), before the up block's instance norm.
- Instance norm on channels-last float32 maps reads the statistics off a (B, H*W, C) view, with no layout copies
  (torch's kernel copies to channels-first and back; about a quarter faster here).
- Weights optionally channels-last (faster oneDNN / cuDNN convolutions) and a half-precision copy for the
  convolutions; keypoints, splines, softmax, sampling and occlusion stay float32.

Results change only by float rounding (about 1e-6) in fp32.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.models.inference import SubpixelUpBlock, fold_batchnorm, placed, replace_modules
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.tpsmm.blocks import UpBlock2d
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.models.tpsmm.resnet import BasicBlock, ResNet18


def _fold(conv: nn.Module, norm: nn.Module) -> None:
    assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)  # as ResNet18 builds them
    fold_batchnorm(conv, norm)


@torch.no_grad()
def fold_resnet(resnet: ResNet18) -> None:
    """Fold every BatchNorm of an eval-mode ResNet-18 into its convolution, in place."""
    _fold(resnet.conv1, resnet.bn1)
    resnet.bn1 = nn.Identity()
    for module in resnet.modules():
        if isinstance(module, BasicBlock):
            _fold(module.conv1, module.bn1)
            _fold(module.conv2, module.bn2)
            module.bn1, module.bn2 = nn.Identity(), nn.Identity()
            if module.downsample is not None:
                _fold(module.downsample[0], module.downsample[1])
                module.downsample[1] = nn.Identity()


class ChannelsLastInstanceNorm(nn.Module):
    """``nn.InstanceNorm2d(affine=True)`` in eval mode, computed on the channels-last layout itself for float32
    maps (biased variance, eps inside the square root, as torch's); other inputs go to torch's kernel."""

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or not x.is_contiguous(memory_format=torch.channels_last):
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        n, c, h, w = x.shape
        pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view of channels-last memory
        var, mean = torch.var_mean(pixels, dim=1, keepdim=True, correction=0)
        scale = torch.rsqrt(var + self.eps) * self.weight
        return torch.addcmul(self.bias - mean * scale, pixels, scale).view(n, h, w, c).permute(0, 3, 1, 2)


class SubpixelUpBlockIN(SubpixelUpBlock):
    """A TPSMM up block (upsample, conv, instance norm, ReLU) with the convolution at the input resolution."""

    def __init__(self, block: UpBlock2d) -> None:
        super().__init__(block)  # reads block.conv
        self.norm = block.norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.upsampled_conv(x)))


def prepare_for_inference(model: TPSMotionModel, device: torch.device, channels_last: bool) -> TPSMotionModel:
    """A copy of ``model`` on ``device`` for animation: eval mode, BatchNorm folded, sub-pixel up blocks, no
    background predictor (the reference animates without it), optionally channels-last. The caller's model is
    left as it is."""
    model = copy.deepcopy(model, memo={id(model.bg_predictor): None}).eval()  # copied without its bg predictor
    fold_resnet(model.kp_detector.fg_encoder)
    replace_modules(model, UpBlock2d, SubpixelUpBlockIN)
    replace_modules(model, nn.InstanceNorm2d, ChannelsLastInstanceNorm)
    return placed(model, device, channels_last)


@dataclass
class TPSSource:
    """Source-only state: the image (1 x C x H x W float32), the inpainting encoder's levels (finest first,
    in the weights' dtype) and the dense motion network's downscaled source (float32)."""

    image: torch.Tensor
    levels: list[torch.Tensor]
    small: torch.Tensor


class TPSMMEngine:
    """A TPSMM ready for inference on one device; implements ``fomm_cli.animate.InferenceEngine``.

    precision: "fp32", or "bf16"/"fp16" for a half-precision copy of the convolutions' weights. The AVD
    network (a small MLP on keypoints) stays float32.
    """

    def __init__(self, model: TPSMotionModel, device: torch.device, *, precision: str = "fp32",
                 channels_last: bool = True) -> None:
        self.model = prepare_for_inference(model, device, channels_last)
        if precision != "fp32":
            half = torch.bfloat16 if precision == "bf16" else torch.float16
            for name in ("kp_detector", "dense_motion_network", "inpainting_network"):
                getattr(self.model, name).to(half)
        self.device = device
        self.image_size = (int(model.config.image_size[0]), int(model.config.image_size[1]))
        self.has_avd = model.avd_network is not None

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        return self.model.kp_detector(images)

    def encode_source(self, image: torch.Tensor) -> TPSSource:
        network = self.model.dense_motion_network
        return TPSSource(image, self.model.inpainting_network.encode(image), network.downscale(image).float())

    def render(self, source: TPSSource, kp_source: Keypoints, kp_driving: Keypoints) -> torch.Tensor:
        motion = self.model.dense_motion_network(source.small, kp_driving, kp_source)
        return self.model.inpainting_network.decode(source.levels, source.image, motion)[0]

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        if self.model.avd_network is None:
            raise ValueError("this model has no AVD network")
        return self.model.avd_network(kp_source, kp_driving)
