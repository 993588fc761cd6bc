"""128-D identity descriptors from dlib's face recognition ResNet (used for the AED metric).

Descriptors of the same person are typically closer than 0.6 (Euclidean), different people farther.
Every descriptor is aligned the same way, with dlib's 5-point shape predictor inside the face box (the
alignment dlib's model was trained with), whatever backend found the box: distances then compare faces,
not landmark detectors.
"""

from __future__ import annotations

import numpy as np

from fomm_cli.face.backends import Face, check_image
from fomm_cli.face.dlib_backend import DlibBackend, dlib_model, dlib_rectangle

# dlib's documented decision threshold for "same person" with this model.
SAME_PERSON_DISTANCE = 0.6


def face_descriptor(image: np.ndarray, face: Face | None = None) -> np.ndarray | None:
    """float64 (128,) identity descriptor of ``face`` in a uint8 H x W x 3 RGB image.

    ``face``: where the face is (only its box is used); None detects the largest face with dlib.
    Returns None when ``face`` is None and no face is found.
    """
    image = check_image(image)
    if face is None:
        faces = DlibBackend().detect(image)
        if not faces:
            return None
        face = faces[0]
    predictor = dlib_model("shape_predictor", "shape_predictor_5_face_landmarks.dat")
    recognizer = dlib_model("face_recognition_model_v1", "dlib_face_recognition_resnet_model_v1.dat")
    shape = predictor(image, dlib_rectangle(face.box))
    return np.asarray(recognizer.compute_face_descriptor(image, shape), dtype=np.float64)


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (< SAME_PERSON_DISTANCE: probably the same person)."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
