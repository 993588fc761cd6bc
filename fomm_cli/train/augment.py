"""Training-time augmentation of a (source, driving) frame pair, as configured in ``augmentation_params``.

Pure numpy/cv2 on uint8 H x W x 3 RGB frames. Every transform draws its random parameters once per
sample from the given generator and applies them to both frames alike, so the pair stays consistent.
"""

from __future__ import annotations

import cv2
import numpy as np

from fomm_cli.train.config import (
    AugmentationConfig,
    CropParams,
    FlipParams,
    JitterParams,
    ResizeParams,
    RotationParams,
)

Frames = list[np.ndarray]


def augment(frames: Frames, params: AugmentationConfig, rng: np.random.Generator) -> Frames:
    """Flip, rotate, resize, crop, then colour-jitter (the reference's order). Returns contiguous uint8."""
    if params.flip_param is not None:
        frames = _flip(frames, params.flip_param, rng)
    if params.rotation_param is not None:
        frames = _rotate(frames, params.rotation_param, rng)
    if params.resize_param is not None:
        frames = _resize(frames, params.resize_param, rng)
    if params.crop_param is not None:
        frames = _crop(frames, params.crop_param, rng)
    if params.jitter_param is not None:
        frames = _jitter(frames, params.jitter_param, rng)
    return [np.ascontiguousarray(f) for f in frames]


def _flip(frames: Frames, p: FlipParams, rng: np.random.Generator) -> Frames:
    # Two independent coin flips (the reference skips the horizontal flip whenever it flips time).
    if p.time_flip and rng.random() < 0.5:
        frames = frames[::-1]
    if p.horizontal_flip and rng.random() < 0.5:
        frames = [f[:, ::-1] for f in frames]
    return frames


def _rotate(frames: Frames, p: RotationParams, rng: np.random.Generator) -> Frames:
    low, high = (-p.degrees, p.degrees) if isinstance(p.degrees, int | float) else p.degrees
    angle = rng.uniform(low, high)
    h, w = frames[0].shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return [cv2.warpAffine(np.ascontiguousarray(f), matrix, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)) for f in frames]


def _resize(frames: Frames, p: ResizeParams, rng: np.random.Generator) -> Frames:
    factor = rng.uniform(p.ratio[0], p.ratio[1])
    h, w = frames[0].shape[:2]
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return [cv2.resize(np.ascontiguousarray(f), size, interpolation=interpolation) for f in frames]


def _crop(frames: Frames, p: CropParams, rng: np.random.Generator) -> Frames:
    th, tw = p.size
    h, w = frames[0].shape[:2]
    if h < th or w < tw:  # pad symmetrically with edge pixels up to the crop size
        ph, pw = max(0, th - h), max(0, tw - w)
        pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
        frames = [np.pad(f, pad, mode="edge") for f in frames]
        h, w = frames[0].shape[:2]
    y0 = int(rng.integers(0, h - th + 1))
    x0 = int(rng.integers(0, w - tw + 1))
    return [f[y0:y0 + th, x0:x0 + tw] for f in frames]


def _gray(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of float RGB, H x W x 1."""
    return (image @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def _jitter(frames: Frames, p: JitterParams, rng: np.random.Generator) -> Frames:
    """torchvision-style colour jitter: the enabled adjustments in a random order, clipped after each."""
    ops = []
    if p.brightness > 0:
        f = rng.uniform(max(0.0, 1 - p.brightness), 1 + p.brightness)
        ops.append(lambda x, f=f: x * f)
    if p.contrast > 0:
        f = rng.uniform(max(0.0, 1 - p.contrast), 1 + p.contrast)

        def contrast(x: np.ndarray, f: float = f) -> np.ndarray:
            mean = _gray(x).mean()
            return (x - mean) * f + mean

        ops.append(contrast)
    if p.saturation > 0:
        f = rng.uniform(max(0.0, 1 - p.saturation), 1 + p.saturation)

        def saturation(x: np.ndarray, f: float = f) -> np.ndarray:
            gray = _gray(x)
            return (x - gray) * f + gray

        ops.append(saturation)
    if p.hue > 0:
        shift = rng.uniform(-p.hue, p.hue) * 360.0  # cv2's float HSV has hue in degrees

        def hue(x: np.ndarray, shift: float = shift) -> np.ndarray:
            hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = np.mod(hsv[..., 0] + shift, 360.0)
            return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

        ops.append(hue)
    if not ops:
        return frames
    order = rng.permutation(len(ops))
    out = []
    for frame in frames:
        x = np.ascontiguousarray(frame, dtype=np.float32) * np.float32(1 / 255)
        for i in order:
            x = np.clip(ops[i](x), 0.0, 1.0).astype(np.float32, copy=False)
        out.append((x * 255 + 0.5).astype(np.uint8))
    return out
