"""Face crops for ``fomm animate``: the source image's face, and the driving video's face tube.

The driving video is cropped with one static square around its main face tube (the union of the face's
boxes over the video), the way the VoxCeleb training clips were cut: head motion inside the crop is
what relative animation transfers, so a crop that followed the face frame by frame would erase it.
That needs the whole tube before the first crop, hence two passes over the frames (detection every
few frames, then cropping); both stream, so memory does not grow with the video's length.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from fomm_cli.errors import FommError
from fomm_cli.face import DEFAULT_INCREASE
from fomm_cli.face.backends import FaceBackend
from fomm_cli.face.crop import TubeTracker, box_side, crop_and_resize, face_box, square_box, track_tubes
from fomm_cli.progress import track

Size = int | tuple[int, int]


def _resize_to(image: np.ndarray, box: np.ndarray, size: Size) -> np.ndarray:
    """Square crop at ``box`` resized to ``size`` (int, or (height, width): non-square sizes stretch)."""
    if isinstance(size, int):
        return crop_and_resize(image, box, size)
    height, width = (int(v) for v in size)
    if height == width:
        return crop_and_resize(image, box, height)
    import cv2

    return cv2.resize(crop_and_resize(image, box, max(height, width)), (width, height), interpolation=cv2.INTER_AREA)


def prepare_face_source(
    image: np.ndarray, backend: FaceBackend, size: Size = 256, increase: float = DEFAULT_INCREASE
) -> tuple[np.ndarray, np.ndarray]:
    """(face crop uint8 size x size x 3, int64 crop box ``[x1, y1, x2, y2]`` in ``image`` pixels).

    Crops the largest face; raises FommError when there is none. Paste the animated crop back with
    ``fomm_cli.face.paste.paste_back(image, crop, box)``.
    """
    faces = backend.detect(image)
    if not faces:
        raise FommError("no face found in the source image (pass --no-crop to animate the whole image)")
    box = square_box(face_box(faces[0]), image.shape, increase)
    return _resize_to(image, box, size), box


class DrivingCropper:
    """Crops every frame of a driving video to one static square around its main face tube.

    ``frames`` is called once per pass and must return the video's frames from the start (for a file:
    ``lambda: iter_frames(path)``). The first iteration (or :meth:`analyse`) detects faces every
    ``detect_every`` frames and picks the tube with the most detections; later iterations reuse the box.
    Frames outside the tube are cropped with the same box, so the output keeps every frame.
    """

    def __init__(
        self,
        frames: Callable[[], Iterable[np.ndarray]],
        backend: FaceBackend,
        size: Size = 256,
        increase: float = DEFAULT_INCREASE,
        detect_every: int = 5,
        quiet: bool = True,
    ) -> None:
        if detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        self._frames = frames
        self.backend = backend
        self.size = size
        self.increase = increase
        self.detect_every = detect_every
        self.quiet = quiet
        self.box: np.ndarray | None = None
        self.num_frames = 0

    @classmethod
    def from_video(cls, path: str | Path, backend: FaceBackend, size: Size = 256, **options: object) -> DrivingCropper:
        from fomm_cli.media.video import iter_frames

        return cls(lambda: iter_frames(path), backend, size, **options)  # type: ignore[arg-type]

    def analyse(self) -> np.ndarray:
        """Find the main face tube; returns (and keeps) its int64 square crop box."""
        shape: tuple[int, ...] | None = None
        count = 0

        def detections() -> Iterator[tuple[int, list[np.ndarray]]]:
            nonlocal shape, count
            for index, frame in enumerate(track(self._frames(), "finding the driving face", quiet=self.quiet)):
                shape, count = frame.shape, index + 1
                if index % self.detect_every == 0:
                    yield index, [face_box(face) for face in self.backend.detect(frame)]

        # No growth limit: the one box must hold the face wherever it goes in the video.
        tracker = TubeTracker(max_growth=float("inf"), max_gap=max(12, 3 * self.detect_every))
        tubes = track_tubes(detections(), tracker)
        if shape is None:
            raise FommError("the driving video has no frames")
        if not tubes:
            raise FommError("no face found in the driving video (drop --crop-driving to use it as is)")
        main = max(tubes, key=lambda t: (t.detections, box_side(t.box_union)))
        self.box = square_box(main.union(), shape, self.increase)
        self.num_frames = count
        return self.box

    def __iter__(self) -> Iterator[np.ndarray]:
        """Cropped frames, uint8 size x size x 3."""
        box = self.box if self.box is not None else self.analyse()
        for frame in self._frames():
            yield _resize_to(frame, box, self.size)


@functools.lru_cache(maxsize=4)
def _cropper(key: tuple, path: str, backend: FaceBackend, size: Size, increase: float, quiet: bool) -> DrivingCropper:
    cropper = DrivingCropper.from_video(path, backend, size, increase=increase, quiet=quiet)
    cropper.analyse()
    return cropper


def crop_driving_frames(
    path: str | Path,
    backend: FaceBackend,
    size: Size = 256,
    increase: float = DEFAULT_INCREASE,
    quiet: bool = False,
) -> Iterator[np.ndarray]:
    """Cropped frames of the driving video at ``path`` (see :class:`DrivingCropper`).

    ``quiet`` hides the progress bar of the first pass (for ``--json``).

    The face tube is analysed once per file and settings, so calling this again for another pass (best
    frame search, reference frame, animation) only re-decodes and crops.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = (stat.st_mtime_ns, stat.st_size)  # a rewritten file is analysed again
    return iter(_cropper(key, str(resolved), backend, size, increase, quiet))
