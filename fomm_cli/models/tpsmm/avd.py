"""Animation via disentanglement (AVD): re-pose the source keypoints with the driving keypoints' pose while
keeping the source's identity (shape), instead of relative or absolute transfer."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from fomm_cli.models.keypoints import Keypoints


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes``, each but the last followed by BatchNorm1d and ReLU (reference indices)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    """Identity code from the source keypoints, pose code from the driving keypoints, decoded to keypoints.

    Keypoints are B x (5 num_tps) x 2; the codes have ``id_bottle_size`` and ``pose_bottle_size`` entries.
    """

    def __init__(self, num_tps: int, id_bottle_size: int = 64, pose_bottle_size: int = 64) -> None:
        super().__init__()
        size = 5 * 2 * num_tps
        self.num_tps = num_tps
        self.id_encoder = _mlp([size, 256, 512, 1024, id_bottle_size])
        self.pose_encoder = _mlp([size, 256, 512, 1024, pose_bottle_size])
        self.decoder = _mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size])

    def forward(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        b = kp_source.value.shape[0]
        pose = self.pose_encoder(kp_driving.value.reshape(b, -1))
        identity = self.id_encoder(kp_source.value.reshape(b, -1))
        out = self.decoder(torch.cat([pose, identity], dim=1))
        return Keypoints(out.view(b, self.num_tps * 5, 2))
