"""Loss curves as a picture, drawn with cv2 (no plotting library needed).

``draw_curves`` takes named series of (step, value) points and returns a uint8 H x W x 3 RGB image: one
panel per series with its own y range (loss terms differ by orders of magnitude), a shared step axis,
several runs per panel in different colours (for comparisons).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

Series = Sequence[tuple[float, float]]  # (step, value) points
# Line colours (RGB) for the runs in a panel, in order.
COLORS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207))
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BLACK, _GREY = (0, 0, 0), (200, 200, 200)


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` points (noisy per-step losses become readable)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def draw_curves(panels: Mapping[str, Mapping[str, Series]], title: str = "", columns: int = 2,
                panel_size: tuple[int, int] = (440, 240), smoothing: int = 1) -> np.ndarray:
    """``panels``: panel title -> run label -> points. Returns the picture (uint8 RGB)."""
    names = list(panels)
    rows = max(1, math.ceil(len(names) / columns))
    width, height = panel_size
    top = 30 if title else 0
    image = np.full((top + rows * height, columns * width, 3), 255, np.uint8)
    if title:
        cv2.putText(image, title, (10, 21), _FONT, 0.55, _BLACK, 1, cv2.LINE_AA)
    for index, name in enumerate(names):
        row, col = divmod(index, columns)
        panel = image[top + row * height: top + (row + 1) * height, col * width: (col + 1) * width]
        _draw_panel(panel, name, panels[name], smoothing)
    return image


def _draw_panel(panel: np.ndarray, name: str, runs: Mapping[str, Series], smoothing: int) -> None:
    height, width = panel.shape[:2]
    left, right, top, bottom = 58, 12, 24, 30
    points = {label: [(s, v) for s, v in series if math.isfinite(v)] for label, series in runs.items()}
    points = {label: p for label, p in points.items() if p}
    cv2.putText(panel, name, (left, 16), _FONT, 0.45, _BLACK, 1, cv2.LINE_AA)
    cv2.rectangle(panel, (left, top), (width - right, height - bottom), _GREY, 1)
    if not points:
        return
    curves = {label: (np.array([s for s, _ in p], float), np.array(smooth([v for _, v in p], smoothing)))
              for label, p in points.items()}
    steps = np.concatenate([s for s, _ in curves.values()])
    values = np.concatenate([v for _, v in curves.values()])
    x0, x1 = float(steps.min()), float(max(steps.max(), steps.min() + 1))
    y0, y1 = float(values.min()), float(values.max())
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5 * abs(y0) - 1e-6, y1 + 0.5 * abs(y1) + 1e-6
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def to_pixels(s: np.ndarray, v: np.ndarray) -> np.ndarray:
        px = left + (s - x0) / (x1 - x0) * (width - left - right)
        py = (height - bottom) - (v - y0) / (y1 - y0) * (height - top - bottom)
        return np.stack([px, py], axis=1).round().astype(np.int32)

    for fraction in (0.0, 0.5, 1.0):  # y ticks
        value = y0 + pad + fraction * (y1 - y0 - 2 * pad)
        y = int(to_pixels(np.array([x0]), np.array([value]))[0, 1])
        cv2.line(panel, (left - 4, y), (left, y), _BLACK, 1)
        cv2.putText(panel, f"{value:.3g}", (2, y + 4), _FONT, 0.35, _BLACK, 1, cv2.LINE_AA)
    for fraction in (0.0, 0.5, 1.0):  # x ticks
        step = x0 + fraction * (x1 - x0)
        x = int(to_pixels(np.array([step]), np.array([y0]))[0, 0])
        cv2.line(panel, (x, height - bottom), (x, height - bottom + 4), _BLACK, 1)
        cv2.putText(panel, f"{step:.0f}", (max(0, x - 12), height - bottom + 16), _FONT, 0.35, _BLACK, 1,
                    cv2.LINE_AA)
    for i, (label, (s, v)) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        cv2.polylines(panel, [to_pixels(s, v)], False, color, 1, cv2.LINE_AA)
        if len(curves) > 1 or label:
            y = top + 14 + 14 * i
            cv2.line(panel, (width - right - 175, y - 4), (width - right - 157, y - 4), color, 2)
            cv2.putText(panel, label[:26], (width - right - 153, y), _FONT, 0.38, _BLACK, 1, cv2.LINE_AA)
