"""Face detection backends and how one is chosen.

Two backends return the same :class:`Face` values (a box and the 68 iBUG landmarks, largest face first,
in pixels of the image passed in):

- ``dlib`` (``fomm_cli.face.dlib_backend``): HOG detector + shape predictor, models shipped in wheels,
  offline, CPU. Finds faces down to ``min_face`` pixels wide by scanning an upsampled copy.
- ``face-alignment`` (``fomm_cli.face.fan_backend``): S3FD + 2D FAN, the landmarks of the paper's
  evaluation; weights downloaded once into the torch hub cache.

``get_backend("auto")`` takes face-alignment when its weights are cached, or when they can be downloaded
(a quick reachability check of their host, a few seconds at most), and dlib otherwise, and says which and
why through the reporter. Nothing is cached here: each call builds a backend (the jobs call it once per
run); the dlib model files are loaded once per process (see ``dlib_backend.dlib_model``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fomm_cli.errors import FommError, InvalidSetting, one_of
from fomm_cli.face import BACKEND_NAMES, DEFAULT_MIN_FACE
from fomm_cli.reporting import Reporter

# Seconds the reachability check of face-alignment's download host may take (DNS included).
REACHABILITY_TIMEOUT = 3.0


@dataclass(eq=False)  # numpy fields: compare values explicitly
class Face:
    """One detected face, in pixels of the image it was found in.

    box: float32 (4,) ``[x1, y1, x2, y2]``, x2/y2 exclusive. score: detector confidence (backend specific,
    higher is better). landmarks: float32 (68, 2) ``(x, y)`` in the iBUG 68-point order, or None.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))

    def moved(self, dx: float, dy: float) -> Face:
        """The same face in an image whose origin is at (-dx, -dy) of this one's (a crop's parent)."""
        shift = np.array([dx, dy], np.float32)
        landmarks = None if self.landmarks is None else self.landmarks + shift
        return Face(self.box + np.tile(shift, 2), self.score, landmarks)


class FaceBackend(Protocol):
    """A face detector with 68-point landmarks."""

    name: str

    def detect(self, image: np.ndarray, min_face: float = DEFAULT_MIN_FACE) -> list[Face]:
        """Faces at least ``min_face`` px wide in a uint8 H x W x 3 RGB image, largest first (empty list when none).

        Smaller ``min_face`` finds smaller faces and costs more (the backend scans a larger copy).
        """
        ...


# ------------------------------------------------------------------------------ helpers for backends


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as a C-contiguous array (dlib needs one); ValueError unless uint8 H x W x 3."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 RGB image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` resized by ``scale`` (area averaging when shrinking, bilinear when enlarging), C-contiguous."""
    if abs(scale - 1.0) < 1e-6:
        return image
    import cv2

    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def largest_first(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda f: f.area, reverse=True)


def clip_box(box: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``box`` clipped to an image of shape (H, W, ...), float32."""
    h, w = shape[:2]
    return np.clip(box, 0, [w, h, w, h]).astype(np.float32)


def mostly_outside(box: np.ndarray, shape: tuple[int, ...]) -> bool:
    """True when less than a quarter of the box lies inside the image (or the box is empty).

    Partly visible faces at a border are kept: their landmarks come from the unclipped box.
    """
    clipped = clip_box(box, shape)
    inside = max(clipped[2] - clipped[0], 0) * max(clipped[3] - clipped[1], 0)
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    return area <= 0 or inside < 0.25 * area


# ------------------------------------------------------------------------------------------ selection


def get_backend(
    name: str = "auto", device: str = "cpu", allow_download: bool = True, reporter: Reporter | None = None
) -> FaceBackend:
    """A loaded face backend; the reporter is told which one and why ("face backend: dlib (...)").

    ``name``: "dlib", "face-alignment" (downloads missing weights unless ``allow_download`` is False) or
    "auto" (see the module docstring; a failed face-alignment start is a warning, then dlib).
    ``device``: torch device for face-alignment ("auto": CUDA when available); dlib always runs on the CPU.
    """
    from fomm_cli.face.dlib_backend import DlibBackend

    reporter = reporter or Reporter()
    if name == "dlib":
        reporter.note("face backend: dlib")
        return DlibBackend()
    if name == "face-alignment":
        backend = _load_face_alignment(device, allow_download, reporter)
        reporter.note("face backend: face-alignment")
        return backend
    if name != "auto":
        raise InvalidSetting("face_backend", name, one_of(BACKEND_NAMES))

    usable, reason = _face_alignment_usable(allow_download)
    if usable:
        try:
            backend = _load_face_alignment(device, allow_download, reporter)
        except FommError as err:
            reporter.warn(f"face-alignment could not start ({err}); using dlib")
        else:
            reporter.note(f"face backend: face-alignment ({reason})")
            return backend
        reason = "face-alignment could not start"
    reporter.note(f"face backend: dlib ({reason})")
    return DlibBackend()


def _face_alignment_usable(allow_download: bool) -> tuple[bool, str]:
    """(whether auto should try face-alignment, why) without importing it unless needed."""
    from fomm_cli.face.fan_backend import WEIGHTS_HOST, face_alignment_cached, face_alignment_problem

    problem = face_alignment_problem()
    if problem is not None:
        return False, str(problem)
    if face_alignment_cached():
        return True, "its weights are cached"
    if not allow_download:
        return False, "face-alignment's weights are not cached"
    if not host_reachable(WEIGHTS_HOST):
        return False, f"face-alignment's weights are not cached and {WEIGHTS_HOST} cannot be reached"
    return True, f"its weights were downloaded from {WEIGHTS_HOST}"


def _load_face_alignment(device: str, allow_download: bool, reporter: Reporter) -> FaceBackend:
    from fomm_cli.face.fan_backend import FaceAlignmentBackend, face_alignment_cached

    if face_alignment_cached() or not allow_download:
        return FaceAlignmentBackend(device, allow_download=allow_download)
    with reporter.status("downloading face-alignment's weights"):
        return FaceAlignmentBackend(device, allow_download=True)


def host_reachable(host: str, port: int = 443, timeout: float = REACHABILITY_TIMEOUT) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds, name lookup included.

    The lookup has no timeout of its own, so the check runs on a daemon thread that is abandoned when late.
    """
    import socket

    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, name="fomm-reachability", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
