"""The driving video's face tube for ``fomm animate`` (the source's faces: ``fomm_cli.face.select``).

The driving video is cropped with one static square around its main face tube (the union of the face's
boxes over the video), the way the VoxCeleb training clips were cut: head motion inside the crop is
what relative animation transfers, so a crop that followed the face frame by frame would erase it.
That needs the whole tube before the first crop, hence two passes over the frames (detection every
few frames, then cropping); both stream, so memory does not grow with the video's length. The job keeps
one ``DrivingCropper`` per run, so the analysis runs once however many passes follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fomm_cli.errors import InputError, NoFaceFound
from fomm_cli.face import DEFAULT_INCREASE, DEFAULT_MIN_FACE
from fomm_cli.face.backends import FaceBackend
from fomm_cli.face.crop import TubeTracker, box_side, crop_and_resize, face_box, square_box, track_tubes
from fomm_cli.face.scan import FaceScanner
from fomm_cli.reporting import Reporter

Size = int | tuple[int, int]


class DrivingCropper:
    """Crops every frame of a driving video to one static square around its main face tube.

    ``frames`` is called once per pass and must return the video's frames from the start (for a file:
    ``lambda: iter_frames(path)``). The first iteration (or :meth:`analyse`) looks for faces every
    ``detect_every`` frames (a full scan every ``full_every`` frames, tracking in between, see
    ``fomm_cli.face.scan``) and picks the tube with the most detections; later iterations reuse the box.
    Frames outside the tube are cropped with the same box, so the output keeps every frame.
    """

    def __init__(
        self,
        frames: Callable[[], Iterable[np.ndarray]],
        backend: FaceBackend,
        size: Size = 256,
        increase: float = DEFAULT_INCREASE,
        detect_every: int = 5,
        full_every: int = 25,
        min_face: float = DEFAULT_MIN_FACE,
        reporter: Reporter | None = None,
    ) -> None:
        if detect_every < 1 or full_every < 1:
            raise ValueError("detect_every and full_every must be >= 1")
        self._frames = frames
        self.backend = backend
        self.size = size
        self.increase = increase
        self.detect_every = detect_every
        self.full_every = full_every
        self.min_face = min_face
        self.reporter = reporter or Reporter()
        self.box: np.ndarray | None = None
        self.num_frames = 0

    @classmethod
    def from_video(cls, path: str | Path, backend: FaceBackend, size: Size = 256, **options: Any) -> DrivingCropper:
        from fomm_cli.media.video import iter_frames

        return cls(lambda: iter_frames(path), backend, size, **options)

    def analyse(self) -> np.ndarray:
        """Find the main face tube; returns (and keeps) its int64 square crop box."""
        shape: tuple[int, ...] | None = None
        count = 0
        scanner = FaceScanner(self.backend, self.min_face, full_every=self.full_every, track_every=self.detect_every)

        def detections() -> Iterator[tuple[int, list[np.ndarray]]]:
            nonlocal shape, count
            for index, frame in enumerate(self.reporter.track(self._frames(), "finding the driving face")):
                shape, count = frame.shape, index + 1
                faces = scanner(index, frame)
                if faces is not None:
                    yield index, [face_box(face) for face in faces]

        # No growth limit: the one box must hold the face wherever it goes in the video.
        tracker = TubeTracker(max_growth=float("inf"), max_gap=max(12, 2 * self.full_every))
        tubes = track_tubes(detections(), tracker)
        if shape is None:
            raise InputError("driving video", "has no frames")
        if not tubes:
            raise NoFaceFound("the driving video")
        main = max(tubes, key=lambda t: (t.detections, box_side(t.box_union)))
        self.box = square_box(main.union(), shape, self.increase)
        self.num_frames = count
        return self.box

    def __iter__(self) -> Iterator[np.ndarray]:
        """Cropped frames, uint8 size x size x 3."""
        box = self.box if self.box is not None else self.analyse()
        for frame in self._frames():
            yield crop_and_resize(frame, box, self.size)
