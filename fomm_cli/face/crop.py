"""Pure box math for face crops: framing boxes, IoU, square crop boxes, and face tubes across frames.

Boxes are ``[x1, y1, x2, y2]`` in pixels with exclusive x2/y2 (x = column).

Border policy: a crop box is always a real square inside the image. Near a border the square is
shifted inwards (the face ends up off-centre rather than next to invented padding pixels), and when
the requested square is larger than the image's shorter side it shrinks to that side. This keeps the
crop expressible as an ffmpeg ``crop=w:h:x:y`` filter and makes paste-back a plain sub-rectangle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fomm_cli.face import DEFAULT_INCREASE
from fomm_cli.face.backends import Face

# The 68 landmarks stop at the eyebrows: shifting their box up by this fraction of its height centres
# crops on the head rather than on the nose.
FOREHEAD_SHIFT = 0.1


def face_box(face: Face) -> np.ndarray:
    """The box crops are framed on: the landmarks' bounding box moved up by ``FOREHEAD_SHIFT``.

    Using the landmarks rather than the detector box makes dlib and face-alignment frame faces the
    same way (their detector boxes differ in size and centre). Falls back to the detector box.
    """
    if face.landmarks is None:
        return np.asarray(face.box, np.float32)
    x1, y1 = face.landmarks.min(axis=0)
    x2, y2 = face.landmarks.max(axis=0)
    shift = FOREHEAD_SHIFT * (y2 - y1)
    return np.array([x1, y1 - shift, x2, y2 - shift], np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def union_box(boxes: Iterable[np.ndarray]) -> np.ndarray:
    """Smallest box containing all boxes."""
    stacked = np.asarray(list(boxes), np.float32).reshape(-1, 4)
    return np.concatenate([stacked[:, :2].min(axis=0), stacked[:, 2:].max(axis=0)]).astype(np.float32)


def square_box(box: np.ndarray, image_shape: Sequence[int], increase: float = DEFAULT_INCREASE) -> np.ndarray:
    """Integer square crop box (int64 (4,)) around ``box``, inside an image of shape (H, W, ...).

    The side is ``max(w, h) * (1 + 2 * increase)`` (``increase`` is the margin added on each side as a
    fraction of the face size), centred on the box, then shifted/shrunk to fit (see module docstring).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * increase)
    side = round(min(max(float(side), 1.0), height, width))
    x1 = int(np.clip(round(cx - side / 2), 0, width - side))
    y1 = int(np.clip(round(cy - side / 2), 0, height - side))
    return np.array([x1, y1, x1 + side, y1 + side], np.int64)


def crop_and_resize(image: np.ndarray, box: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """The ``box`` region of a uint8 H x W x 3 image resized to ``size`` (an int for a square, or
    (height, width): a non-square size stretches the square crop).

    ``box`` must be an integer box inside the image (as returned by :func:`square_box`).
    """
    import cv2

    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    x1, y1, x2, y2 = (int(v) for v in box)
    if x1 < 0 or y1 < 0 or x2 > image.shape[1] or y2 > image.shape[0] or x2 <= x1 or y2 <= y1:
        raise ValueError(f"crop box {[x1, y1, x2, y2]} is not inside an image of shape {image.shape}")
    region = image[y1:y2, x1:x2]
    # INTER_AREA averages when shrinking (no aliasing); cubic keeps enlargements sharper.
    interpolation = cv2.INTER_AREA if region.shape[0] >= max(height, width) else cv2.INTER_CUBIC
    return cv2.resize(region, (width, height), interpolation=interpolation)


def box_side(box: np.ndarray) -> float:
    """The larger side of a box."""
    return float(max(box[2] - box[0], box[3] - box[1]))


@dataclass(eq=False)  # numpy fields: compare values explicitly
class Tube:
    """One face followed across frames, summarised in constant memory.

    start/end: first and last frame with a detection (inclusive); last: the latest box; box_union: union
    of all its boxes; min_side: smallest face (larger box side) seen; detections: frames with a box.
    """

    start: int
    end: int
    last: np.ndarray
    box_union: np.ndarray
    min_side: float
    detections: int = 1

    @classmethod
    def begin(cls, frame: int, box: np.ndarray) -> Tube:
        box = np.asarray(box, np.float32)
        return cls(frame, frame, box, box.copy(), box_side(box))

    @property
    def length(self) -> int:
        """Frames spanned, gaps included."""
        return self.end - self.start + 1

    def union(self) -> np.ndarray:
        return self.box_union.copy()

    def growth_with(self, box: np.ndarray) -> float:
        """How much larger than the smallest face the static crop's box would be after adding ``box``."""
        smallest = min(self.min_side, box_side(box))
        return box_side(union_box([self.box_union, box])) / max(smallest, 1e-6)

    def add(self, frame: int, box: np.ndarray) -> None:
        box = np.asarray(box, np.float32)
        self.end, self.last, self.detections = frame, box, self.detections + 1
        self.box_union = union_box([self.box_union, box])
        self.min_side = min(self.min_side, box_side(box))


class TubeTracker:
    """Links per-frame face boxes into tubes by overlap, one frame at a time (memory bounded by the
    number of faces in view, not by the video's length).

    A box joins the open tube whose last box it overlaps most (IoU >= ``min_iou``). A tube closes when
    no box joins it for more than ``max_gap`` frames (missed detections inside the gap are tolerated),
    or when the face moved or zoomed so much that the union of its boxes would exceed ``max_growth``
    times its smallest box: a tube is cut out with one static square, so past that point its faces would
    look small in the crop, and the face starts a new tube instead. Frame indices must increase; frames
    may be skipped (detection every few frames).
    """

    def __init__(self, min_iou: float = 0.3, max_growth: float = 1.6, max_gap: int = 12) -> None:
        self.min_iou = min_iou
        self.max_growth = max_growth
        self.max_gap = max_gap
        self._open: list[Tube] = []
        self._last_frame = -1

    def update(self, frame: int, boxes: Sequence[np.ndarray]) -> list[Tube]:
        """Add the boxes found in ``frame``; returns the tubes that closed."""
        if frame <= self._last_frame:
            raise ValueError(f"frame indices must increase ({frame} after {self._last_frame})")
        self._last_frame = frame
        closed = [t for t in self._open if frame - t.end > self.max_gap]
        self._open = [t for t in self._open if frame - t.end <= self.max_gap]

        pairs = sorted(
            ((iou(tube.last, box), ti, bi) for ti, tube in enumerate(self._open) for bi, box in enumerate(boxes)),
            reverse=True,
        )
        used_tubes: set[int] = set()
        used_boxes: set[int] = set()
        grown: set[int] = set()
        restarted: list[int] = []  # boxes whose tube grew too much: they start fresh tubes
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in used_tubes or bi in used_boxes:
                continue
            used_tubes.add(ti)
            used_boxes.add(bi)
            tube = self._open[ti]
            if tube.growth_with(boxes[bi]) > self.max_growth:
                grown.add(ti)
                restarted.append(bi)
            else:
                tube.add(frame, boxes[bi])
        closed += [t for i, t in enumerate(self._open) if i in grown]
        self._open = [t for i, t in enumerate(self._open) if i not in grown]
        starts = [i for i in range(len(boxes)) if i not in used_boxes] + restarted
        self._open += [Tube.begin(frame, boxes[i]) for i in sorted(starts)]
        return closed

    def finish(self) -> list[Tube]:
        """Close and return all open tubes."""
        closed, self._open = self._open, []
        return closed


def track_tubes(
    detections: Iterable[tuple[int, Sequence[np.ndarray]]], tracker: TubeTracker | None = None
) -> list[Tube]:
    """All tubes from ``(frame_index, boxes)`` pairs, ordered by start frame."""
    tracker = tracker or TubeTracker()
    tubes: list[Tube] = []
    for frame, boxes in detections:
        tubes += tracker.update(frame, boxes)
    tubes += tracker.finish()
    return sorted(tubes, key=lambda t: (t.start, float(t.box_union[0])))
