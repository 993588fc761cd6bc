"""Paste animated face crops back into the full photo, frame after frame.

Each face's crop is blended in with its own feathered rectangular mask: 1 in the middle, ramping smoothly
to 0 at the box edges. A rectangle (not an ellipse around the face) because face models move the whole
head, hair included, and an ellipse would leave the source's hair next to the animated one. Where
the crop boxes of neighbouring faces overlap, a pixel is shared between the faces by a soft nearest-face
rule: face k's share is proportional to ``mask_k * exp(-d_k / SHARPNESS)``, with ``d_k`` the distance to
face k's centre in units of its crop's half side. Each face therefore keeps its own animated pixels
(no face is pasted twice, once by its own crop and once by a neighbour's), and the hand-over between two
crops is a smooth ramp about a tenth of a crop wide (no seam). The total weight of the animated crops
is ``1 - prod(1 - mask_k)``; for one crop it is its mask.

The weights depend only on the boxes, so they are computed once; each frame then costs one resize and
one multiply-add per crop on a persistent full-size canvas. Only the crop boxes' bounding regions are
written, and pixels outside every crop box stay bit-identical to the photo; the cost per frame grows
with the number and size of the faces, not with the size of the photo.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Width of the blending ramp at a crop's edges, as a fraction of its side.
DEFAULT_FEATHER = 0.1
# Width of the hand-over between two overlapping crops, in units of a crop's half side.
SHARPNESS = 0.1


@functools.lru_cache(maxsize=16)  # pure function of its arguments, read-only results: safe to share
def feather_mask(height: int, width: int, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """Read-only float32 (height, width) weights in (0, 1]: a smoothstep ramp over ``feather`` of each side."""

    def ramp(n: int) -> np.ndarray:
        centres = np.arange(n, dtype=np.float32) + 0.5
        distance = np.minimum(centres, n - centres)  # to the nearest edge, in pixels
        t = np.clip(distance / max(feather * n, 1e-6), 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    mask = np.outer(ramp(height), ramp(width)).astype(np.float32)
    mask.setflags(write=False)
    return mask


def paste_back(
    full_image: np.ndarray, animated_crop: np.ndarray, box: np.ndarray, feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """``full_image`` (uint8 H x W x 3) with ``animated_crop`` (uint8 S x S x 3) blended in at ``box``, the
    integer ``[x1, y1, x2, y2]`` box the crop was cut from (inside the image), as a new array.

    One frame, one face; for a video (or several faces) keep a :class:`Compositor`, which does not copy
    the whole image for every frame.
    """
    return Compositor(full_image, [box], feather=feather).paste([animated_crop])


@dataclass
class _Slot:
    """One face inside its group: where its box lies in the group's region, and its weights there."""

    face: int
    rows: slice
    cols: slice
    weight: np.ndarray  # float32 (h, w, 1): the crop's weight at each pixel of its box


@dataclass
class _Group:
    """Faces whose boxes overlap (transitively), composited together in their bounding region."""

    rows: slice
    cols: slice
    base: np.ndarray  # float32 (H, W, 3): the photo times the weight left to it
    slots: list[_Slot]


class Compositor:
    """Composites animated face crops into ``image`` (uint8 H x W x 3) at ``boxes``.

    ``boxes``: one int ``[x1, y1, x2, y2]`` crop box per face, inside the image (``square_box``).
    ``centres``: float ``(x, y)`` of each face, default the box centres (pass the face centres when the
    boxes were shifted inwards at a border). ``feather``: the mask's ramp as a fraction of the box side.
    """

    def __init__(
        self,
        image: np.ndarray,
        boxes: Sequence[np.ndarray],
        centres: Sequence[np.ndarray] | None = None,
        feather: float = DEFAULT_FEATHER,
    ) -> None:
        height, width = image.shape[:2]
        self.boxes = [np.asarray(b, np.int64) for b in boxes]
        for box in self.boxes:
            x1, y1, x2, y2 = (int(v) for v in box)
            if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
                raise ValueError(f"paste box {[x1, y1, x2, y2]} is not inside an image of shape {image.shape}")
        if centres is None:
            centres = [np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], np.float32) for b in self.boxes]
        if len(centres) != len(self.boxes):
            raise ValueError(f"{len(centres)} centres for {len(self.boxes)} boxes")
        self.canvas = np.array(image, np.uint8, copy=True)
        self._groups = [self._group(image, members, centres, feather) for members in _overlapping(self.boxes)]

    def _group(
        self, image: np.ndarray, members: list[int], centres: Sequence[np.ndarray], feather: float
    ) -> _Group:
        boxes = [self.boxes[k] for k in members]
        gx1, gy1 = min(int(b[0]) for b in boxes), min(int(b[1]) for b in boxes)
        gx2, gy2 = max(int(b[2]) for b in boxes), max(int(b[3]) for b in boxes)
        shape = (gy2 - gy1, gx2 - gx1)
        ys, xs = np.mgrid[gy1:gy2, gx1:gx2].astype(np.float32) + 0.5  # pixel centres
        masks, distances = [], []
        for k, box in zip(members, boxes, strict=True):
            x1, y1, x2, y2 = (int(v) for v in box)
            mask = np.zeros(shape, np.float32)
            mask[y1 - gy1 : y2 - gy1, x1 - gx1 : x2 - gx1] = feather_mask(y2 - y1, x2 - x1, feather)
            masks.append(mask)
            half = max(x2 - x1, y2 - y1) / 2
            distances.append(np.hypot(xs - centres[k][0], ys - centres[k][1]) / half)
        masks_, distances_ = np.stack(masks), np.stack(distances)
        alpha = 1.0 - np.prod(1.0 - masks_, axis=0)
        # Shares: softmax of -distance / SHARPNESS weighted by the masks (shifted by the minimum for range).
        affinity = masks_ * np.exp(-(distances_ - distances_.min(axis=0)) / SHARPNESS)
        total = affinity.sum(axis=0)
        shares = np.divide(affinity, total, out=np.zeros_like(affinity), where=total > 0)
        region = image[gy1:gy2, gx1:gx2].astype(np.float32)
        slots = []
        for i, (k, box) in enumerate(zip(members, boxes, strict=True)):
            x1, y1, x2, y2 = (int(v) for v in box)
            rows, cols = slice(y1 - gy1, y2 - gy1), slice(x1 - gx1, x2 - gx1)
            weight = np.ascontiguousarray((alpha * shares[i])[rows, cols, None])
            slots.append(_Slot(k, rows, cols, weight))
        return _Group(slice(gy1, gy2), slice(gx1, gx2), region * (1.0 - alpha)[..., None], slots)

    def paste(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The photo with ``crops[k]`` (uint8 S x S x 3, any size) blended in at ``boxes[k]``.

        Returns the compositor's canvas, uint8 H x W x 3, which the next call overwrites: write or copy it
        before pasting the next frame.
        """
        import cv2

        if len(crops) != len(self.boxes):
            raise ValueError(f"{len(crops)} crops for {len(self.boxes)} faces")
        for group in self._groups:
            accumulated = group.base.copy()
            for slot in group.slots:
                crop = crops[slot.face]
                h, w = slot.weight.shape[:2]
                shrinking = crop.shape[0] > h
                resized = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
                accumulated[slot.rows, slot.cols] += slot.weight * resized
            np.clip(np.rint(accumulated), 0, 255, out=accumulated)
            self.canvas[group.rows, group.cols] = accumulated.astype(np.uint8)
        return self.canvas


def _overlapping(boxes: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of ``boxes`` grouped so that boxes that overlap (directly or through others) share a group."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())
