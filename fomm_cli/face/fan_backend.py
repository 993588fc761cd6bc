"""The face-alignment backend: S3FD detector + 2D FAN landmarks (the landmarks of the paper's evaluation).

Its weights are downloaded by face-alignment into the torch hub cache on first use; nothing here
downloads on its own (``fomm_cli.face.backends.get_backend`` decides whether that may happen).
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from pathlib import Path

import numpy as np

from fomm_cli.errors import MissingDependency, ModelUnavailable
from fomm_cli.face import DEFAULT_MIN_FACE
from fomm_cli.face.backends import Face, check_image, clip_box, largest_first, mostly_outside, resized

# S3FD's smallest anchors are 16 px: it finds faces from about 20 px wide at the scale it scans.
S3FD_RELIABLE_FACE = 20.0
# Never scan smaller than this long side (what face-alignment's users and the authors' crop script use).
S3FD_MIN_SIDE = 640
# FAN crops a square of FAN_BOX_SCALE * scale pixels around the face and predicts 64 x 64 heatmaps.
FAN_BOX_SCALE = 200.0
WEIGHTS_HOST = "www.adrianbulat.com"


def torch_hub_dir() -> Path:
    """torch.hub's cache directory, computed the way torch does, without importing torch (slow)."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        torch_home = os.path.join(cache, "torch")
    return Path(os.path.expanduser(torch_home)) / "hub"


def face_alignment_weight_urls() -> list[str]:
    """Where face-alignment downloads its S3FD detector and 2D FAN weights from."""
    from face_alignment.api import models_urls
    from face_alignment.detection.sfd.sfd_detector import models_urls as detector_urls

    return [detector_urls["s3fd"], models_urls["2DFAN-4"]]


def face_alignment_weight_paths() -> list[Path]:
    """Where face-alignment looks for its S3FD detector and 2D FAN weights (torch hub checkpoints)."""
    checkpoints = torch_hub_dir() / "checkpoints"
    return [checkpoints / url.rsplit("/", 1)[-1] for url in face_alignment_weight_urls()]


def face_alignment_problem() -> MissingDependency | None:
    """Why the installed face-alignment cannot be used (not installed, too old), or None when it can.

    1.5 is the first release with plain state-dict weights and the ``compile`` switch used here
    (1.4 shipped TorchScript files under different names).
    """
    try:
        version = importlib.metadata.version("face-alignment")
    except importlib.metadata.PackageNotFoundError:
        return MissingDependency("the face-alignment backend", "pip install face-alignment")
    major, minor = (int(part) if part.isdigit() else 0 for part in [*version.split("."), "0"][:2])
    if (major, minor) < (1, 5):
        return MissingDependency(f"the face-alignment backend (1.5 or newer; {version} is installed)",
                                 "pip install -U face-alignment")
    return None


def face_alignment_cached() -> bool:
    """True when a usable face-alignment is installed and both weight files are in the hub cache."""
    checkpoints = torch_hub_dir() / "checkpoints"
    # Cheap pre-check before importing face_alignment (~1 s): the weight names start like this.
    if not (any(checkpoints.glob("s3fd*")) and any(checkpoints.glob("2DFAN4*"))):
        return False
    if face_alignment_problem() is not None:
        return False
    return all(path.is_file() for path in face_alignment_weight_paths())


def s3fd_scale(image_shape: tuple[int, ...], min_face: float) -> float:
    """The factor applied to an image before S3FD so that faces ``min_face`` px wide are found (<= 1)."""
    long_side = max(image_shape[:2])
    scale = max(S3FD_RELIABLE_FACE / float(min_face), S3FD_MIN_SIDE / long_side)
    return min(scale, 1.0)


class FaceAlignmentBackend:
    """face-alignment's S3FD detector + 2D FAN.

    ``device``: a torch device string, or "auto" for CUDA when available. ``allow_download``: False
    refuses to start when the weights are not cached (ModelUnavailable) instead of downloading them.
    """

    name = "face-alignment"

    def __init__(self, device: str = "cpu", allow_download: bool = True) -> None:
        problem = face_alignment_problem()
        if problem is not None:
            raise problem
        paths = face_alignment_weight_paths()
        how_to_get = (f"put {' and '.join(p.name for p in paths)} in {paths[0].parent} "
                      "(face-alignment downloads them on first use)")
        if not allow_download and not all(p.is_file() for p in paths):
            raise ModelUnavailable("face-alignment", "its weights are not cached", how_to_get)
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
        except Exception as err:  # download failure, corrupt file, bad device: all surface as one error
            raise ModelUnavailable("face-alignment", f"could not load it ({type(err).__name__}: {err})",
                                   how_to_get) from err

    def detect(self, image: np.ndarray, min_face: float = DEFAULT_MIN_FACE) -> list[Face]:
        import torch

        image = check_image(image)
        scale = s3fd_scale(image.shape, min_face)
        small = resized(image, scale)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self._fa.face_detector.detect_from_image(small.copy())
        rows = [
            row
            for row in np.asarray(raw, np.float64).reshape(-1, 5)
            if not mostly_outside(row[:4] / scale, image.shape)
        ]
        if not rows:
            return []
        boxes = [row[:4] / scale for row in rows]
        landmarks = self._landmarks(image, boxes)
        faces = [
            Face(clip_box(box, image.shape), float(row[4]), lm)
            for box, row, lm in zip(boxes, rows, landmarks, strict=True)
        ]
        return largest_first(faces)

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
