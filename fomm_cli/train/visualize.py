"""A picture of one training batch: one row per sample, one column per stage.

Columns: source + keypoints, driving + keypoints, the equivariance-warped driving frame + its keypoints
(when the equivariance losses are on), the source deformed by the dense motion, the prediction, and the
occlusion map. Keypoint k is drawn in colour k of the hue wheel.
"""

from __future__ import annotations

import colorsys

import numpy as np
import torch

from fomm_cli.geometry import resize_map
from fomm_cli.train.config import VisualizerParams


def _to_uint8(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """B x C x h x w in [0, 1] (C = 1 or 3) -> B x H x W x 3 uint8 at ``size``."""
    images = images.detach().float()
    images = resize_map(images, size, align_corners=False)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _draw_keypoints(images: np.ndarray, keypoints: torch.Tensor, radius: int) -> np.ndarray:
    import cv2

    out = images.copy()
    h, w = images.shape[1:3]
    kp = keypoints.detach().float().cpu().numpy()  # B x K x 2 in [-1, 1]
    num_kp = kp.shape[1]
    colors = [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(k / num_kp, 1.0, 1.0)) for k in range(num_kp)]
    for b in range(len(out)):
        for k in range(num_kp):
            x = (kp[b, k, 0] + 1) / 2 * (w - 1)
            y = (kp[b, k, 1] + 1) / 2 * (h - 1)
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(out[b], (round(float(x)), round(float(y))), radius, colors[k], -1, cv2.LINE_AA)
    return out


def training_grid(columns: list[tuple[torch.Tensor, torch.Tensor | None]], params: VisualizerParams,
                  max_rows: int = 6) -> np.ndarray:
    """Tile ``(images, keypoints or None)`` columns into one uint8 H x W x 3 picture.

    Every column is B x C x h x w in [0, 1]; all are resized to the first column's size.
    """
    size = (int(columns[0][0].shape[2]), int(columns[0][0].shape[3]))
    radius = max(1, round(params.kp_size * size[0] / 256))
    tiles = []
    for images, keypoints in columns:
        tile = _to_uint8(images[:max_rows], size)
        if keypoints is not None:
            tile = _draw_keypoints(tile, keypoints[:max_rows], radius)
        if params.draw_border:
            tile[:, :, [0, -1]] = 255
        tiles.append(np.concatenate(list(tile), axis=0))
    return np.concatenate(tiles, axis=1)
