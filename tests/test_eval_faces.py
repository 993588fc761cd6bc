"""Face metrics on short videos cut from real photos, with the dlib backend (offline, bundled models)."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.evaluate import metrics
from fomm_cli.evaluate.extractors import FaceExtractors
from fomm_cli.evaluate.reconstruct import Pair
from fomm_cli.evaluate.scoring import score_video, summarize

skimage_data = pytest.importorskip("skimage.data")

SIZE = 160  # dlib's HOG detector needs faces of ~40 px or more


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def extractors() -> FaceExtractors:
    return FaceExtractors("dlib")


def clip(photo: np.ndarray, shift: int = 0, frames: int = 3) -> list[np.ndarray]:
    """A slow pan over the astronaut's face; ``shift`` moves the window ``shift`` px right, so the
    content (and every landmark) moves ``shift`` px left."""
    return [np.ascontiguousarray(photo[20:20 + SIZE, 100 + 2 * i + shift:100 + 2 * i + shift + SIZE])
            for i in range(frames)]


def other_face() -> np.ndarray:
    """A different person: the first LFW face of scikit-image, upscaled to the clip size."""
    import cv2

    gray = (skimage_data.lfw_subset()[0] * 255).astype(np.uint8)
    return np.repeat(cv2.resize(gray, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)[..., None], 3, axis=2)


def test_video_against_itself_scores_zero(photo: np.ndarray, extractors: FaceExtractors) -> None:
    video = clip(photo)
    scores = score_video("self", (Pair(r, g) for r, g in zip(video, video, strict=True)), extractors)
    report = summarize("face", {}, [scores], extractors)
    assert report.metrics["l1"].value == 0
    assert report.metrics["akd"].value == 0 and report.metrics["akd"].frames == len(video)
    assert report.metrics["aed"].value == 0 and report.metrics["aed"].frames == len(video)
    assert report.metrics["mkr"].value is None and "body" in report.metrics["mkr"].reason


@pytest.mark.parametrize("shift", [2, 5])
def test_akd_of_a_shifted_video_matches_the_shift(photo: np.ndarray, extractors: FaceExtractors,
                                                  shift: int) -> None:
    real, shifted = clip(photo), clip(photo, shift)
    scores = score_video("shift", (Pair(r, g) for r, g in zip(real, shifted, strict=True)), extractors)
    # Only x moves: per frame (|dx| + |dy|) averaged over the 136 coordinates = (shift + 0) / 2.
    akd, frames = metrics.pooled_mean(scores.per_frame["akd"])
    assert frames == len(real)
    assert akd == pytest.approx(shift / 2, abs=0.35)
    assert scores.mean("l1")[0] > 0.01
    # The identity survives a small shift (same person, nearly the same pixels).
    assert scores.mean("aed")[0] < 0.05


def test_aed_is_clearly_positive_for_another_person(photo: np.ndarray, extractors: FaceExtractors) -> None:
    real = clip(photo, frames=1)[0]
    same = extractors.pair(real, real)
    other = extractors.pair(real, other_face())
    assert metrics.aed_per_frame(same.real_id[None], same.generated_id[None])[0] == 0
    distance = metrics.aed_per_frame(other.real_id[None], other.generated_id[None])[0]
    assert distance > 0.3  # dlib's same-person threshold is 0.6 Euclidean, 0.36 squared


def test_frames_without_a_face_are_skipped_not_guessed(photo: np.ndarray, extractors: FaceExtractors) -> None:
    real = clip(photo, frames=2)
    blank = [np.full_like(real[0], 127)] * 2
    scores = score_video("lost", (Pair(r, g) for r, g in zip(real, blank, strict=True)), extractors)
    report = summarize("face", {}, [scores], extractors)
    # no generated face: AKD skips the frames (cmp_kp.py) and says why ...
    assert report.metrics["akd"].value is None and "both" in report.metrics["akd"].reason
    # ... while AED is taken in the real face's box, so a lost face is penalised
    assert report.metrics["aed"].frames == 2 and report.metrics["aed"].value > 0
    scores = score_video("no face", (Pair(r, g) for r, g in zip(blank, blank, strict=True)), extractors)
    report = summarize("face", {}, [scores], extractors)
    assert report.metrics["aed"].value is None and "no face" in report.metrics["aed"].reason
    assert report.metrics["l1"].value == 0
