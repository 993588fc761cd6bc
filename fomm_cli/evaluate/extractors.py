"""What the pose and identity metrics compare: keypoints and identity embeddings of a frame pair.

Faces: 68 landmarks from the face backend (face-alignment when its weights are available, dlib offline)
and dlib's 128-D face descriptor. Bodies: mediapipe's pose model (the optional ``body`` extra), reduced to
the 18 OpenPose COCO joints that pose-evaluation used, with joints it does not see marked missing; there
is no offline person re-identification model, so body AED is reported as not available.

Numbers from different extractors are not comparable, so every extractor carries a name for the report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from fomm_cli.errors import InvalidSetting

FACE_LANDMARKS = 68

# The 18 joints of the OpenPose COCO model pose-evaluation used, in its order.
COCO18_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear",
)
# Index of each COCO-18 joint among mediapipe's 33 pose landmarks; the neck (-1) has no landmark of its
# own and is the midpoint of the shoulders (11, 12), as OpenPose places it.
_MEDIAPIPE_FOR_COCO18 = (0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
_MEDIAPIPE_SHOULDERS = (11, 12)
# mediapipe's own drawing threshold: below it a landmark is a guess (occluded or outside the frame).
VISIBILITY_THRESHOLD = 0.5

BODY_POSE_INSTALL = "pip install 'fomm-cli[body]' (mediapipe 0.10.21 pins numpy<2: use a separate environment)"


@dataclass(frozen=True)
class PairFeatures:
    """Features of one real frame and its generated counterpart.

    Keypoints: N x 2 (x, y) pixels, NaN rows for missing ones. Identity: (D,) embedding, all NaN when the
    frame has none. A field is None when the extractor for it is not available.
    """

    real_kp: np.ndarray | None
    generated_kp: np.ndarray | None
    real_id: np.ndarray | None
    generated_id: np.ndarray | None


class Extractors(ABC):
    """Keypoint and identity extractors for one kind of subject.

    ``sources``: metric ('akd', 'mkr', 'aed') -> the extractor behind it; ``unavailable``: metric -> why it
    cannot be reported with this kind or installation.
    """

    kind: str
    sources: dict[str, str]
    unavailable: dict[str, str]

    @abstractmethod
    def pair(self, real: np.ndarray, generated: np.ndarray) -> PairFeatures:
        """Features of two uint8 H x W x 3 RGB frames of the same size."""

    def close(self) -> None:  # noqa: B027 (most extractors hold nothing that needs releasing)
        """Release model resources."""


class FaceExtractors(Extractors):
    """Landmarks of the largest face in each frame; identity from the face found in the real frame.

    The generated frame's descriptor is taken in the real frame's face box (its own 5-point alignment is
    still computed on the generated pixels): a reconstruction is aligned with its real frame, so every
    frame with a real face is scored, and a generated face too broken to detect is penalised instead of
    skipped. This is the closest offline analogue of pose-evaluation, whose OpenFace embedding took the
    whole frame without any detection.
    """

    kind = "face"

    def __init__(self, backend: str = "auto", device: str = "cpu") -> None:
        from fomm_cli.face.backends import get_backend

        self.backend = get_backend(backend, device=device)
        self.sources = {"akd": f"{self.backend.name} 68 landmarks",
                        "aed": "dlib 128-D face descriptor (in the real frame's face box)"}
        self.unavailable = {"mkr": "defined for body joints only (papers report it on Tai-Chi-HD): kind body"}

    def pair(self, real: np.ndarray, generated: np.ndarray) -> PairFeatures:
        from fomm_cli.face.identity import face_descriptor

        real_face = self._largest(real)
        generated_face = self._largest(generated)
        real_id: np.ndarray | None
        generated_id: np.ndarray | None
        if real_face is None:
            real_id = generated_id = np.full(128, np.nan)
        else:
            # face_descriptor uses only the box: both descriptors come from the real face's box.
            real_id = face_descriptor(real, real_face)
            generated_id = face_descriptor(generated, real_face)
        return PairFeatures(_landmarks(real_face), _landmarks(generated_face), real_id, generated_id)

    def _largest(self, frame: np.ndarray) -> Any:
        faces = self.backend.detect(frame)
        return faces[0] if faces else None


def _landmarks(face: Any) -> np.ndarray:
    """68 x 2 landmarks of a detected face, all NaN when there is none."""
    if face is None or face.landmarks is None:
        return np.full((FACE_LANDMARKS, 2), np.nan)
    return np.asarray(face.landmarks, dtype=np.float64).reshape(FACE_LANDMARKS, 2)


class BodyExtractors(Extractors):
    """COCO-18 body joints from mediapipe's pose model (model complexity 1, which ships in the wheel, so
    nothing is downloaded), every frame on its own (static image mode, no tracking between frames)."""

    kind = "body"

    def __init__(self) -> None:
        self.unavailable = {"aed": "no offline person re-identification model is available, so body identity "
                                   "is not estimated"}
        self.sources = {}
        self._pose = None
        try:
            import mediapipe
        except ImportError:
            reason = f"body joints need mediapipe: {BODY_POSE_INSTALL}"
            self.unavailable.update(akd=reason, mkr=reason)
            return
        self._pose = mediapipe.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
        name = f"mediapipe {mediapipe.__version__} pose (COCO-18 joints)"
        self.sources = {"akd": name, "mkr": name}

    def pair(self, real: np.ndarray, generated: np.ndarray) -> PairFeatures:
        if self._pose is None:
            return PairFeatures(None, None, None, None)
        return PairFeatures(self.joints(real), self.joints(generated), None, None)

    def joints(self, frame: np.ndarray) -> np.ndarray:
        """18 x 2 pixel coordinates, NaN for joints not seen (or no person at all)."""
        assert self._pose is not None
        result = self._pose.process(np.ascontiguousarray(frame))
        if result.pose_landmarks is None:
            return np.full((len(COCO18_JOINTS), 2), np.nan)
        landmarks = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark])
        return coco18_from_mediapipe(landmarks, frame.shape[1], frame.shape[0])

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None


def coco18_from_mediapipe(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map mediapipe's 33 pose landmarks to the 18 COCO joints, in pixels, NaN where missing.

    landmarks: 33 x 3 (x / width, y / height, visibility). A joint is missing when its visibility is below
    ``VISIBILITY_THRESHOLD`` or it lies outside the frame (mediapipe extrapolates such joints; a bottom-up
    detector like pose-evaluation's OpenPose would not report them). The neck is the shoulders' midpoint,
    present only when both shoulders are.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (33, 3):
        raise ValueError(f"expected 33 x 3 mediapipe landmarks, got {landmarks.shape}")
    xy = landmarks[:, :2] * (width, height)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    seen = inside & (landmarks[:, 2] >= VISIBILITY_THRESHOLD)
    xy[~seen] = np.nan
    out = np.empty((len(COCO18_JOINTS), 2))
    for joint, index in enumerate(_MEDIAPIPE_FOR_COCO18):
        out[joint] = xy[list(_MEDIAPIPE_SHOULDERS)].mean(axis=0) if index < 0 else xy[index]
    return out


def make_extractors(kind: str, face_backend: str = "auto", device: str = "cpu") -> Extractors:
    """Extractors for ``kind`` 'face' or 'body'."""
    if kind == "face":
        return FaceExtractors(face_backend, device)
    if kind == "body":
        return BodyExtractors()
    raise InvalidSetting("kind", kind, "face or body")
