"""Faces across the frames of a video: a full scan every few frames, tracking in between.

A full scan looks at the whole frame for faces down to ``min_face`` pixels: with dlib about 0.5 s for
a 1080p frame and 2 s for a 4K one, too slow for every frame. Between full scans each face seen last is
searched for only in a window around where it was (``TRACK_WINDOW`` times its size), at a scale chosen
for that face's size, so the cost grows with the number of faces, not with the frame's size. A face
that enters the picture is found by the next full scan, at most ``full_every`` frames later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fomm_cli.face import DEFAULT_MIN_FACE
from fomm_cli.face.backends import Face, FaceBackend, largest_first
from fomm_cli.face.crop import box_side, iou

# Side of the window a tracked face is searched in, as a multiple of its size: it may move by its own
# size between two looks.
TRACK_WINDOW = 3.0
# A tracked face may shrink by this factor between two looks and still be found.
TRACK_SHRINK = 1.5
# A tracked face that is not found is still looked for this many times (a blink, a motion blur).
KEEP_MISSED = 2
# Two detections overlapping this much are the same face (found from two windows).
SAME_FACE_IOU = 0.5


def detect_near(
    frame: np.ndarray, backend: FaceBackend, boxes: list[np.ndarray], min_face: float = DEFAULT_MIN_FACE
) -> list[Face]:
    """Faces in windows around ``boxes`` (``[x1, y1, x2, y2]`` frame pixels), in frame pixels, largest first.

    Each window is ``TRACK_WINDOW`` times its box, clipped to the frame, and scanned for faces down to
    ``max(min_face, side / TRACK_SHRINK)``. Faces found from several windows are reported once.
    """
    height, width = frame.shape[:2]
    found: list[Face] = []
    for box in boxes:
        side = box_side(box)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = side * TRACK_WINDOW / 2
        x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
        x2, y2 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
        if x2 - x1 < 8 or y2 - y1 < 8:
            continue
        window = frame[y1:y2, x1:x2]
        found += [face.moved(x1, y1) for face in backend.detect(window, max(min_face, side / TRACK_SHRINK))]
    return largest_first(_distinct(found))


def _distinct(faces: list[Face]) -> list[Face]:
    """The faces without repeats: of two that overlap by SAME_FACE_IOU, the higher scoring one."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.score, reverse=True):
        if all(iou(face.box, other.box) < SAME_FACE_IOU for other in kept):
            kept.append(face)
    return kept


@dataclass
class _Tracked:
    box: np.ndarray
    misses: int = 0


class FaceScanner:
    """Decides, frame by frame, how to look for faces: a full scan every ``full_every`` frames, a search
    around the faces seen last every ``track_every`` frames in between, nothing on the other frames.

    Call it with increasing frame indices (the first call is always a full scan)::

        scanner = FaceScanner(backend)
        for index, frame in enumerate(frames):
            faces = scanner(index, frame)   # list of Face in frame pixels, or None: not looked at
    """

    def __init__(
        self,
        backend: FaceBackend,
        min_face: float = DEFAULT_MIN_FACE,
        full_every: int = 10,
        track_every: int = 1,
    ) -> None:
        if full_every < 1 or track_every < 1:
            raise ValueError("full_every and track_every must be >= 1")
        self.backend = backend
        self.min_face = min_face
        self.full_every = full_every
        self.track_every = track_every
        self.full_scans = 0
        self.tracked_scans = 0
        self._tracked: list[_Tracked] = []
        self._last_full: int | None = None

    def __call__(self, index: int, frame: np.ndarray) -> list[Face] | None:
        if self._last_full is None or index - self._last_full >= self.full_every:
            self._last_full = index
            self.full_scans += 1
            faces = self.backend.detect(frame, self.min_face)
            self._tracked = [_Tracked(face.box) for face in faces]
            return faces
        if (index - self._last_full) % self.track_every or not self._tracked:
            return None
        self.tracked_scans += 1
        faces = detect_near(frame, self.backend, [t.box for t in self._tracked], self.min_face)
        missed = [t for t in self._tracked if all(iou(t.box, f.box) < SAME_FACE_IOU / 2 for f in faces)]
        self._tracked = [_Tracked(face.box) for face in faces] + [
            _Tracked(t.box, t.misses + 1) for t in missed if t.misses < KEEP_MISSED
        ]
        return faces
