"""Face detection backends: face-alignment (S3FD + 68-point FAN) and dlib (HOG + 68-point shape predictor).

Both return :class:`Face` values with a box and the same 68 iBUG landmarks, largest face first, in
pixels of the image passed in. ``get_backend("auto")`` picks face-alignment when its weights are
already in the torch hub cache (it never downloads in auto mode, so it is quick and works offline),
and dlib otherwise, whose models ship in the ``face-recognition-models`` wheel.

Detection runs on a copy downscaled so that its longer side is at most ``max_side`` pixels (speed);
landmarks are then computed on the full-resolution image for precision.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from fomm_cli.errors import FommError, SettingsError
from fomm_cli.face import BACKEND_NAMES, DEFAULT_DETECT_SIZE

log = logging.getLogger(__name__)

# dlib's HOG scores clear frontal faces above ~0.7; textured patches (badges, logos) reach ~0.35.
DLIB_MIN_SCORE = 0.5
# HOG's window is 80 px; below this working size we let dlib upsample once so ~40 px faces are found.
DLIB_UPSAMPLE_BELOW = 480
DLIB_INSTALL_HINT = "pip install dlib-bin face-recognition-models"


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


class FaceBackend(Protocol):
    """A face detector with 68-point landmarks."""

    name: str

    def detect(self, image: np.ndarray, max_side: int | None = DEFAULT_DETECT_SIZE) -> list[Face]:
        """Faces in a uint8 H x W x 3 RGB image, largest first (empty list when none)."""
        ...


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as a C-contiguous array (dlib needs one); ValueError unless uint8 H x W x 3."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 RGB image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def _downscale(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """(image resized so its longer side is <= max_side, scale factor applied)."""
    long_side = max(image.shape[:2])
    if max_side is None or long_side <= max_side:
        return image, 1.0
    import cv2

    scale = max_side / long_side
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _largest_first(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda f: f.area, reverse=True)


# ----------------------------------------------------------------------------------------------- dlib


def dlib_model_path(name: str) -> Path:
    """Path of a model file shipped by ``face-recognition-models`` (e.g. ``shape_predictor_68_face_landmarks.dat``).

    Located without importing the package: its ``__init__`` imports ``pkg_resources``, which recent
    setuptools no longer provides.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FommError(f"the dlib face backend needs its model files: {DLIB_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / name
        if path.is_file():
            return path
    raise FommError(
        f"{name} is missing from face-recognition-models; reinstall it: "
        "pip install --force-reinstall face-recognition-models"
    )


def import_dlib() -> ModuleType:
    """The dlib module, or a FommError saying how to install it."""
    try:
        import dlib
    except ImportError as err:
        raise FommError(f"the dlib face backend is not installed ({err}): {DLIB_INSTALL_HINT}") from err
    return dlib


@functools.cache
def _dlib_shape_predictor() -> Any:
    return import_dlib().shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))


def dlib_rectangle(box: np.ndarray) -> Any:
    """dlib.rectangle for an ``[x1, y1, x2, y2]`` box with exclusive x2/y2 (dlib's right/bottom are inclusive)."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return import_dlib().rectangle(x1, y1, max(x1, x2 - 1), max(y1, y2 - 1))


def dlib_landmarks(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """68 landmarks (float32 (68, 2) pixels) inside ``box`` from dlib's shape predictor."""
    shape = _dlib_shape_predictor()(check_image(image), dlib_rectangle(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


class DlibBackend:
    """dlib's HOG frontal face detector + 68-point shape predictor; CPU only, models bundled, no download."""

    name = "dlib"

    def __init__(self) -> None:
        self._detector = import_dlib().get_frontal_face_detector()
        _dlib_shape_predictor()

    def detect(self, image: np.ndarray, max_side: int | None = DEFAULT_DETECT_SIZE) -> list[Face]:
        image = check_image(image)
        small, scale = _downscale(image, max_side)
        upsample = 1 if max(small.shape[:2]) <= DLIB_UPSAMPLE_BELOW else 0
        rects, scores, _ = self._detector.run(small, upsample, DLIB_MIN_SCORE)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if score < DLIB_MIN_SCORE:
                continue
            box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float32) / scale
            if _mostly_outside(box, image.shape):
                continue
            faces.append(Face(_clip_box(box, image.shape), float(score), dlib_landmarks(image, box)))
        return _largest_first(faces)


def _clip_box(box: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    return np.clip(box, 0, [w, h, w, h]).astype(np.float32)


def _mostly_outside(box: np.ndarray, shape: tuple[int, ...]) -> bool:
    """True when less than a quarter of the box lies inside the image (or the box is empty).

    Partly visible faces at a border are kept: their landmarks come from the unclipped box.
    """
    clipped = _clip_box(box, shape)
    inside = max(clipped[2] - clipped[0], 0) * max(clipped[3] - clipped[1], 0)
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    return area <= 0 or inside < 0.25 * area


# ------------------------------------------------------------------------------------- face-alignment


def torch_hub_dir() -> Path:
    """torch.hub's cache directory, computed the way torch does, without importing torch (slow)."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        torch_home = os.path.join(cache, "torch")
    return Path(os.path.expanduser(torch_home)) / "hub"


def face_alignment_weight_paths() -> list[Path]:
    """Where face-alignment looks for its S3FD detector and 2D FAN weights (torch hub checkpoints)."""
    from face_alignment.api import models_urls
    from face_alignment.detection.sfd.sfd_detector import models_urls as detector_urls

    checkpoints = torch_hub_dir() / "checkpoints"
    urls = [detector_urls["s3fd"], models_urls["2DFAN-4"]]
    return [checkpoints / url.rsplit("/", 1)[-1] for url in urls]


def face_alignment_problem() -> str | None:
    """Why the installed face-alignment cannot be used (not installed, too old), or None when it can.

    1.5 is the first release with plain state-dict weights and the ``compile`` switch used here
    (1.4 shipped TorchScript files under different names).
    """
    try:
        version = importlib.metadata.version("face-alignment")
    except importlib.metadata.PackageNotFoundError:
        return "face-alignment is not installed: pip install face-alignment"
    major, minor = (int(part) if part.isdigit() else 0 for part in [*version.split("."), "0"][:2])
    if (major, minor) < (1, 5):
        return f"face-alignment {version} is too old (1.5 or newer is needed): pip install -U face-alignment"
    return None


def _face_alignment_cached() -> bool:
    """True when a usable face-alignment is installed and both weight files are in the hub cache."""
    checkpoints = torch_hub_dir() / "checkpoints"
    # Cheap pre-check before importing face_alignment (~1 s): the weight names start like this.
    if not (any(checkpoints.glob("s3fd*")) and any(checkpoints.glob("2DFAN4*"))):
        return False
    if face_alignment_problem() is not None:
        return False
    return all(path.is_file() for path in face_alignment_weight_paths())


class FaceAlignmentBackend:
    """face-alignment's S3FD detector + 2D FAN (the landmarks used by the paper's evaluation).

    ``device``: a torch device string, or "auto" for CUDA when available.
    """

    name = "face-alignment"

    def __init__(self, device: str = "cpu", allow_download: bool = True) -> None:
        problem = face_alignment_problem()
        if problem is not None:
            raise FommError(f"{problem}, or use --face-backend dlib")
        paths = face_alignment_weight_paths()
        missing = [p for p in paths if not p.is_file()]
        hint = (
            f"put {' and '.join(p.name for p in paths)} in {paths[0].parent} "
            "(face-alignment downloads them on first use), or use --face-backend dlib"
        )
        if missing and not allow_download:
            raise FommError(f"face-alignment weights not found: {hint}")
        import face_alignment

        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # compile=False: torch.compile costs minutes on first use and fails on some setups.
                self._fa = face_alignment.FaceAlignment(
                    face_alignment.LandmarksType.TWO_D, device=device, flip_input=False, compile=False
                )
        except Exception as err:  # download failure, corrupt file, bad device: all surface as one line
            raise FommError(f"could not load face-alignment ({type(err).__name__}: {err}); {hint}") from err

    def detect(self, image: np.ndarray, max_side: int | None = DEFAULT_DETECT_SIZE) -> list[Face]:
        import torch

        image = check_image(image)
        small, scale = _downscale(image, max_side)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self._fa.face_detector.detect_from_image(small.copy())
        rows = [
            row
            for row in np.asarray(raw, np.float64).reshape(-1, 5)
            if not _mostly_outside(row[:4] / scale, image.shape)
        ]
        if not rows:
            return []
        boxes = [row[:4] / scale for row in rows]
        landmarks = self._landmarks(image, boxes)
        faces = [
            Face(_clip_box(box, image.shape), float(row[4]), lm)
            for box, row, lm in zip(boxes, rows, landmarks, strict=True)
        ]
        return _largest_first(faces)

    def _landmarks(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        """FAN landmarks for each box, on the full-resolution image.

        Runs face-alignment's network on face-alignment's crops, but decodes the heatmaps here:
        its own decoder is numba-compiled on first use in every process (10-30 s on a CPU).
        """
        import torch
        from face_alignment import utils as fa_utils

        reference_scale = float(self._fa.face_detector.reference_scale)
        y_offset = float(getattr(fa_utils, "CENTER_Y_OFFSET", 0.12))
        geometry = [fan_crop_geometry(box, reference_scale, y_offset) for box in boxes]
        crops = np.stack([fa_utils.crop(image, center, scale) for center, scale in geometry])
        net = self._fa.face_alignment_net
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).to(self._fa.device, dtype=self._fa.dtype) / 255.0
        with torch.no_grad():
            heatmaps = net(batch)
        if isinstance(heatmaps, (list, tuple)):  # older FAN versions return every stack's output
            heatmaps = heatmaps[-1]
        heatmaps = heatmaps.float().cpu().numpy()
        return [decode_heatmaps(hm, center, scale) for hm, (center, scale) in zip(heatmaps, geometry, strict=True)]


# FAN crops a square of FAN_BOX_SCALE * scale pixels around the face and predicts 64 x 64 heatmaps.
FAN_BOX_SCALE = 200.0


def fan_crop_geometry(
    box: np.ndarray, reference_scale: float = 195.0, y_offset: float = 0.12
) -> tuple[np.ndarray, float]:
    """(centre (2,) float64, scale) of the region FAN looks at for a detector box, as face-alignment does:
    the box centre moved up by ``y_offset`` of its height, and ``scale = (w + h) / reference_scale``."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2 - (y2 - y1) * y_offset], np.float64)
    return center, (x2 - x1 + y2 - y1) / reference_scale


def decode_heatmaps(heatmaps: np.ndarray, center: np.ndarray, scale: float) -> np.ndarray:
    """Landmarks (float32 (N, 2) image pixels) from FAN heatmaps (N, H, W) of the region at (center, scale).

    Each point is its heatmap's peak, nudged a quarter pixel towards the higher neighbour, mapped back
    from heatmap to image pixels (face-alignment's convention, without its rounding to whole pixels).
    """
    n, height, width = heatmaps.shape
    flat = heatmaps.reshape(n, -1).argmax(axis=1)
    px, py = flat % width, flat // width
    x, y = px.astype(np.float64), py.astype(np.float64)
    inside = (px > 0) & (px < width - 1) & (py > 0) & (py < height - 1)
    k = np.nonzero(inside)[0]
    x[k] += 0.25 * np.sign(heatmaps[k, py[k], px[k] + 1] - heatmaps[k, py[k], px[k] - 1])
    y[k] += 0.25 * np.sign(heatmaps[k, py[k] + 1, px[k]] - heatmaps[k, py[k] - 1, px[k]])
    # Heatmap pixel centres are at index + 0.5; the heatmap spans FAN_BOX_SCALE * scale image pixels.
    side = FAN_BOX_SCALE * scale
    points = (np.stack([x, y], axis=1) + 0.5) * (side / width) + center - side / 2
    return points.astype(np.float32)


# ------------------------------------------------------------------------------------------ selection


@functools.cache
def get_backend(name: str = "auto", device: str = "cpu", allow_download: bool = True) -> FaceBackend:
    """A loaded face backend (cached: models load once per process).

    ``auto``: face-alignment when its weights are already cached and load, else dlib; never downloads.
    ``face-alignment``: downloads missing weights unless ``allow_download`` is False. The chosen
    backend's ``.name`` tells callers which one they got ("using face backend: dlib").
    """
    if name == "dlib":
        return _dlib_backend()
    if name == "face-alignment":
        return FaceAlignmentBackend(device, allow_download=allow_download)
    if name != "auto":
        raise SettingsError(f"unknown face backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if _face_alignment_cached():
        try:
            backend: FaceBackend = FaceAlignmentBackend(device, allow_download=False)
        except FommError as err:
            log.warning("face-alignment unavailable, falling back to dlib: %s", err)
        else:
            log.info("using face backend: %s", backend.name)
            return backend
    backend = _dlib_backend()
    log.info("using face backend: %s", backend.name)
    return backend


@functools.cache
def _dlib_backend() -> DlibBackend:
    return DlibBackend()  # one per process, whatever device the caller asked for
