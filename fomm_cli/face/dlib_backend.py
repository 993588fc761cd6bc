"""The offline face backend: dlib's HOG face detector and 68-point shape predictor.

Both models ship as files (the detector inside dlib, the predictor in the ``face-recognition-models``
wheel), so this backend works without a network and on any CPU.

Finding small faces: the HOG detector slides an 80 px window over an image pyramid that only goes
*down*, so it finds faces from about 70 px wide up. To find faces down to ``min_face`` pixels at the
input's own resolution, the image is scanned at ``DLIB_RELIABLE_FACE / min_face`` times its size (1.75x
for the default 40 px), whatever the frame size: an upsampled frame for small faces, a downsampled one
when only large faces are wanted (faster). The cost grows with the scanned area: about 0.5 s for a
1080p frame and 2 s for a 4K frame at 1.75x on one CPU core (``benchmarks/face_detection.py``), which
is why videos are scanned in full only every few frames and tracked in between (``fomm_cli.face.scan``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from fomm_cli.errors import MissingDependency
from fomm_cli.face import DEFAULT_MIN_FACE
from fomm_cli.face.backends import Face, check_image, clip_box, largest_first, mostly_outside, resized
from fomm_cli.fsutil import fomm_home, temp_path

# Face width (px) that the HOG detector finds reliably at the scale it scans. Its window is 80 px, and the
# astronaut photo scores 1.1 at 65 px and 0.6 at 60 px (threshold 0.5), 0 below; 70 leaves a margin.
DLIB_RELIABLE_FACE = 70.0
# dlib's HOG scores clear frontal faces above ~0.7; textured patches (badges, logos) reach ~0.35.
DLIB_MIN_SCORE = 0.5
DLIB_INSTALL = "pip install dlib-bin face-recognition-models"


def import_dlib() -> ModuleType:
    """The dlib module, or MissingDependency saying how to install it."""
    try:
        import dlib
    except ImportError as err:
        raise MissingDependency("the dlib face backend", DLIB_INSTALL) from err
    return dlib


def dlib_model_path(name: str) -> Path:
    """Path of a model file shipped by ``face-recognition-models`` (e.g. ``shape_predictor_68_face_landmarks.dat``).

    Located without importing the package: its ``__init__`` imports ``pkg_resources``, which recent
    setuptools no longer provides.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("the dlib face backend", DLIB_INSTALL)
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / name
        if path.is_file():
            return path
    raise MissingDependency(f"{name} (missing from face-recognition-models)",
                            "pip install --force-reinstall face-recognition-models")


# The only cache of the face package, and a safe one: each entry is a read-only model loaded from a file
# that ships inside an installed package, so it never differs between calls and tests never clear it.
@functools.cache
def dlib_model(kind: str, name: str) -> Any:
    """A dlib model loaded once per process: ``kind`` is the dlib class (``shape_predictor``,
    ``face_recognition_model_v1``), ``name`` the file in ``face-recognition-models``."""
    return getattr(import_dlib(), kind)(str(dlib_model_path(name)))


@functools.cache  # the same safety as dlib_model: the detector is built into dlib
def hog_detector() -> Any:
    """dlib's frontal face detector, loaded once per process through a copy saved in the fomm cache folder
    (``$FOMM_HOME``, default ``~/.cache/fomm``); see :func:`load_hog_detector`."""
    return load_hog_detector(fomm_home())


def load_hog_detector(folder: Path) -> Any:
    """dlib's frontal face detector, from ``folder`` when a copy was saved there, else built and saved there.

    dlib decodes its built-in detector from a compressed string, which takes about a second in every
    process; the saved copy (named after dlib's version) loads in a millisecond. A missing, unwritable or
    corrupt copy only costs that second.
    """
    dlib = import_dlib()
    saved = folder / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    if saved.is_file():
        try:
            return dlib.fhog_object_detector(str(saved))
        except RuntimeError:  # truncated or corrupt: saved again below
            pass
    detector = dlib.get_frontal_face_detector()
    partial = temp_path(saved, "partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        detector.save(str(partial))
        os.replace(partial, saved)
    except (OSError, RuntimeError):
        partial.unlink(missing_ok=True)
    return detector


def dlib_rectangle(box: np.ndarray) -> Any:
    """dlib.rectangle for an ``[x1, y1, x2, y2]`` box with exclusive x2/y2 (dlib's right/bottom are inclusive)."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return import_dlib().rectangle(x1, y1, max(x1, x2 - 1), max(y1, y2 - 1))


def dlib_landmarks(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """68 landmarks (float32 (68, 2) pixels of ``image``) inside ``box``, from dlib's shape predictor."""
    predictor = dlib_model("shape_predictor", "shape_predictor_68_face_landmarks.dat")
    shape = predictor(check_image(image), dlib_rectangle(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def dlib_scale(min_face: float) -> float:
    """The factor by which an image is resized before the HOG scan so that faces ``min_face`` px wide are found."""
    if not min_face > 0:
        raise ValueError(f"min_face must be > 0, not {min_face}")
    return DLIB_RELIABLE_FACE / float(min_face)


class DlibBackend:
    """dlib's HOG frontal face detector + 68-point shape predictor; CPU only, models bundled, no download."""

    name = "dlib"

    def __init__(self) -> None:
        self._detector = hog_detector()
        dlib_model("shape_predictor", "shape_predictor_68_face_landmarks.dat")  # fail now, not mid-video

    def detect(self, image: np.ndarray, min_face: float = DEFAULT_MIN_FACE) -> list[Face]:
        image = check_image(image)
        scale = dlib_scale(min_face)
        work = resized(image, scale)
        rects, scores, _ = self._detector.run(work, 0, DLIB_MIN_SCORE)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if score < DLIB_MIN_SCORE:
                continue
            work_box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float32)
            box = work_box / scale
            if mostly_outside(box, image.shape):
                continue
            # Landmarks on whichever copy has more pixels: the upsampled one for small faces.
            on_work = scale > 1
            landmarks = dlib_landmarks(work if on_work else image, work_box if on_work else box)
            if on_work:
                landmarks /= np.float32(scale)
            faces.append(Face(clip_box(box, image.shape), float(score), landmarks))
        return largest_first(faces)
