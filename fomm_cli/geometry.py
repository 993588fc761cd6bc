"""Coordinate grids, warping and resizing: the one place where sampling conventions are decided.

Conventions (every function that samples takes ``align_corners`` explicitly, as kornia does):

- Images and maps are B x C x H x W; sampling grids are B x H x W x 2.
- Coordinates are (x, y) in [-1, 1], x = column. ``coordinate_grid`` puts pixel i of n at
  2 i / (n - 1) - 1: the grid's corners are the centres of the corner pixels.
- ``align_corners`` is ``grid_sample``'s: True reads coordinates the way ``coordinate_grid`` writes them
  (an identity grid resamples an image exactly); False (torch's default since 1.3, and what the official
  FOMM checkpoints ran with) puts the corners at the outer pixel edges, so an identity grid blurs by a
  fraction of a pixel. Models record the setting they were trained with (``ModelConfig.align_corners``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def coordinate_grid(height: int, width: int, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """H x W x 2 grid of (x, y) pixel-centre coordinates in [-1, 1]."""
    x = torch.arange(width, dtype=dtype, device=device)
    y = torch.arange(height, dtype=dtype, device=device)
    # Written as 2 * (i / (n - 1)) - 1 to match the reference's float rounding bit for bit.
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    return torch.stack([x.view(1, -1).expand(height, width), y.view(-1, 1).expand(height, width)], dim=-1)


def gaussian_heatmaps(points: torch.Tensor, height: int, width: int, variance: float) -> torch.Tensor:
    """Unnormalised Gaussians around points: ... x K x 2 in [-1, 1] -> ... x K x H x W,
    exp(-|z - p|^2 / (2 variance)) at every grid coordinate z."""
    grid = coordinate_grid(height, width, points.dtype, points.device)
    diff = grid - points[..., None, None, :]
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)


def sample(images: torch.Tensor, grid: torch.Tensor, *, align_corners: bool,
           padding_mode: str = "zeros") -> torch.Tensor:
    """``images`` (B x C x H x W) read at ``grid`` (B x h x w x 2, (x, y) in [-1, 1]), bilinear -> B x C x h x w."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=align_corners)


def resize_map(maps: torch.Tensor, size: Sequence[int], *, align_corners: bool) -> torch.Tensor:
    """Bilinear resize of B x C x h x w maps to ``size`` = (H, W) (unchanged when already that size)."""
    if tuple(maps.shape[2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=align_corners)


def resize_grid(grid: torch.Tensor, size: Sequence[int], *, align_corners: bool) -> torch.Tensor:
    """Bilinear resize of a B x h x w x 2 sampling grid to B x H x W x 2. With ``align_corners`` an
    identity grid stays exactly the identity at the new size."""
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    return resize_map(grid.permute(0, 3, 1, 2), size, align_corners=align_corners).permute(0, 2, 3, 1)


def warp(images: torch.Tensor, grid: torch.Tensor, *, align_corners: bool) -> torch.Tensor:
    """``images`` (B x C x H x W) warped by a sampling grid of any resolution (B x h x w x 2), which is
    first resized to H x W: output(z) = images(grid(z))."""
    return sample(images, resize_grid(grid, tuple(images.shape[2:]), align_corners=align_corners),
                  align_corners=align_corners)
