"""Inference-only rewrites of a trained model: the same function with less work.

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

import torch
import torch.nn.functional as F
from torch import nn

from fomm_cli.models.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from fomm_cli.models.model import FirstOrderModel


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """conv <- norm(conv(.)) for a BatchNorm in eval mode (running statistics)."""
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


class SubpixelUpBlock(nn.Module):
    """An ``UpBlock2d`` (with its norm already folded) computed at the input resolution.

    Output pixel (2i + a, 2j + b) of conv3x3(upsample2x(x)) reads input rows {i-1, i} for a = 0 and {i, i+1}
    for a = 1 (columns likewise), so each phase is a 2x2 conv whose taps are sums of 3x3 taps. All four
    phases run as one 2x2 conv over the input padded by one pixel (phase (a, b) is its output shifted by
    (a, b)), and one strided copy interleaves them into a channels-last result.
    """

    def __init__(self, block: UpBlock2d) -> None:
        super().__init__()
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.out_features
        y = F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias)  # B x 4 out x (H + 1) x (W + 1)
        n, _, h, w = y.shape
        h, w = h - 1, w - 1
        result = y.new_empty(n, h, 2, w, 2, out)
        for index, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            result[:, :, a, :, b, :] = y[:, index * out:(index + 1) * out, a:a + h, b:b + w].permute(0, 2, 3, 1)
        return F.relu_(result.view(n, 2 * h, 2 * w, out)).permute(0, 3, 1, 2)


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
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, UpBlock2d):
                setattr(parent, name, SubpixelUpBlock(child))
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model
