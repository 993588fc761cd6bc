"""Real faces placed small in larger scenes, for the face tests and ``benchmarks/face_detection.py``.

The faces are real photos from scikit-image: the astronaut (Eileen Collins) in ``data.astronaut()``,
mirrored and recoloured, and the people of ``data.lfw_subset()`` (Labeled Faces in the Wild). The
backgrounds are collages of scikit-image's photos without people (coffee, rocket, a cat, bricks, grass,
the Hubble deep field).

A face's *width* is measured ear to ear at eye level (the x extent of the 68-point jaw line), its box
from the brows to the chin: the astronaut's was annotated by eye; LFW faces are measured from dlib's
landmarks on a 4x enlargement (``lfw_samples``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

from fomm_cli.face.backends import Face
from fomm_cli.face.dlib_backend import DlibBackend

# The astronaut's face (brows to chin, ear to ear) in skimage.data.astronaut(), 512 x 512, annotated by eye.
ASTRONAUT_FACE = np.array([175, 80, 270, 175], np.float32)
BACKGROUND_COLOUR = (40, 60, 90)


@dataclass(eq=False)
class Sample:
    """A photo and where its face is: ``face`` float ``[x1, y1, x2, y2]`` (width = face width);
    ``margin``: how much of the photo around the face is pasted, in face widths on each side (at most the
    whole photo); ``soft_edge``: the width of the blend into the scene, as a fraction of the pasted part."""

    name: str
    image: np.ndarray
    face: np.ndarray
    margin: float = 0.7
    soft_edge: float = 0.15


@functools.cache
def astronaut_samples() -> tuple[Sample, ...]:
    """The astronaut as photographed, mirrored, in grey, and darker with a warm cast."""
    photo = data.astronaut()
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    width = photo.shape[1]
    mirrored_face = np.array([width - ASTRONAUT_FACE[2], ASTRONAUT_FACE[1], width - ASTRONAUT_FACE[0],
                              ASTRONAUT_FACE[3]], np.float32)
    grey = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    warm = np.clip(photo.astype(np.float32) * [0.8, 0.65, 0.5], 0, 255).astype(np.uint8)
    return (Sample("astronaut", photo, ASTRONAUT_FACE), Sample("astronaut-mirrored", mirrored, mirrored_face),
            Sample("astronaut-grey", grey, ASTRONAUT_FACE), Sample("astronaut-warm", warm, ASTRONAUT_FACE))


@functools.cache
def lfw_samples(limit: int = 100) -> tuple[Sample, ...]:
    """The LFW faces (25 x 25 grey crops, enlarged 4x) whose landmarks dlib finds at that size, each with its
    measured face box. The crops are tight, so they are pasted whole, with a narrow soft edge."""
    from fomm_cli.face.dlib_backend import DlibBackend

    detector = DlibBackend()
    samples = []
    faces = (data.lfw_subset()[:limit] * 255).round().astype(np.uint8)
    for index, face in enumerate(faces):
        image = cv2.resize(np.repeat(face[..., None], 3, axis=2), (100, 100), interpolation=cv2.INTER_CUBIC)
        framed = cv2.copyMakeBorder(image, 50, 50, 50, 50, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        found = detector.detect(framed, 40)
        if not found or found[0].landmarks is None:
            continue
        lm = found[0].landmarks
        box = np.array([lm[:17, 0].min(), lm[17:27, 1].min(), lm[:17, 0].max(), lm[:, 1].max()], np.float32) - 50
        samples.append(Sample(f"lfw-{index}", image, box, margin=1.0, soft_edge=0.03))
    return tuple(samples)


@functools.cache
def _photos() -> tuple[np.ndarray, ...]:
    grey = [data.brick(), data.grass()]
    colour = [data.coffee(), data.rocket(), data.chelsea(), data.hubble_deep_field()]
    return tuple(colour + [np.repeat(g[..., None], 3, axis=2) for g in grey])


@functools.lru_cache(maxsize=4)
def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A read-only uint8 height x width x 3 collage of six face-free photos in a 2 x 3 grid, shuffled by
    ``seed``."""
    photos = list(_photos())
    order = np.random.default_rng(seed).permutation(len(photos))
    canvas = np.empty((height, width, 3), np.uint8)
    rows, cols = [0, height // 2, height], [0, width // 3, 2 * width // 3, width]
    for cell, k in enumerate(order):
        r, c = divmod(cell, 3)
        h, w = rows[r + 1] - rows[r], cols[c + 1] - cols[c]
        canvas[rows[r] : rows[r + 1], cols[c] : cols[c + 1]] = cv2.resize(photos[k], (w, h),
                                                                          interpolation=cv2.INTER_AREA)
    canvas.setflags(write=False)
    return canvas


def place(canvas: np.ndarray, sample: Sample, width: float, centre: tuple[float, float]) -> np.ndarray:
    """Paste ``sample`` into ``canvas`` (in place) so that its face is ``width`` px wide and centred at
    ``centre`` = (x, y); returns the face box there (float32 ``[x1, y1, x2, y2]``).

    The photo around the face (``sample.margin`` face widths on each side) is scaled with area averaging
    (like a camera's sensor, not a blurry upscale when shrinking) and blended in with a soft edge.
    """
    face = sample.face
    scale = width / float(face[2] - face[0])
    fx, fy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    reach = (0.5 + sample.margin) * float(face[2] - face[0])
    height_img, width_img = sample.image.shape[:2]
    sx1, sy1 = max(0, int(fx - reach)), max(0, int(fy - reach))
    sx2, sy2 = min(width_img, int(np.ceil(fx + reach))), min(height_img, int(np.ceil(fy + reach)))
    # Sample pixel (u, v) lands at canvas (centre + scale * ((u, v) - face centre)).
    tx, ty = centre[0] - scale * fx, centre[1] - scale * fy
    dx1, dy1 = int(np.floor(tx + scale * sx1)), int(np.floor(ty + scale * sy1))
    dx2, dy2 = int(np.ceil(tx + scale * sx2)), int(np.ceil(ty + scale * sy2))
    dx1, dy1 = max(dx1, 0), max(dy1, 0)
    dx2, dy2 = min(dx2, canvas.shape[1]), min(dy2, canvas.shape[0])
    matrix = np.array([[scale, 0, tx - dx1], [0, scale, ty - dy1]], np.float64)
    size = (dx2 - dx1, dy2 - dy1)
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    patch = cv2.warpAffine(sample.image, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = np.zeros(sample.image.shape[:2], np.float32)
    inset = max(1, round(sample.soft_edge * (sx2 - sx1)))
    alpha[sy1:sy2, sx1:sx2] = 1.0
    alpha = cv2.GaussianBlur(cv2.erode(alpha, np.ones((inset, inset), np.uint8)), (0, 0), inset / 2)
    alpha = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR)[..., None]
    region = canvas[dy1:dy2, dx1:dx2].astype(np.float32)
    canvas[dy1:dy2, dx1:dx2] = np.rint(region + (patch.astype(np.float32) - region) * alpha).astype(np.uint8)
    return (face - np.array([fx, fy, fx, fy], np.float32)) * scale + np.array([*centre, *centre], np.float32)


def scene(
    size: tuple[int, int], faces: list[tuple[Sample, float, tuple[float, float]]], seed: int = 0
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(a background of ``size`` = (height, width) with each ``(sample, width, centre)`` placed, their boxes)."""
    canvas = background(*size, seed=seed).copy()
    return canvas, [place(canvas, sample, width, centre) for sample, width, centre in faces]


def matches(found: np.ndarray, truth: np.ndarray) -> bool:
    """Whether a detected box is the face at ``truth``: its centre inside the truth box, its width within
    a factor of 2 of the face width."""
    cx, cy = (found[0] + found[2]) / 2, (found[1] + found[3]) / 2
    ratio = (found[2] - found[0]) / (truth[2] - truth[0])
    return bool(truth[0] <= cx <= truth[2] and truth[1] <= cy <= truth[3] and 0.5 <= ratio <= 2.0)


class CountingBackend:
    """dlib, recording the height and width of every image it is asked about."""

    name = "dlib"

    def __init__(self) -> None:
        self.inner = DlibBackend()
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray, min_face: float = 40) -> list[Face]:
        self.shapes.append(image.shape[:2])
        return self.inner.detect(image, min_face)
