"""`fomm eval` with a model: L1 on the float predictions, as the authors' reconstruction.py scored it."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.checkpoints import load_model
from fomm_cli.evaluate.extractors import Extractors, PairFeatures
from fomm_cli.evaluate.pipeline import evaluate_baseline, evaluate_model
from fomm_cli.evaluate.report import to_json
from fomm_cli.media.image import read_image, write_image

from .helpers import PARITY


class NoExtractors(Extractors):
    """L1 only (keypoints and identities are not what these tests are about)."""

    kind = "face"

    def __init__(self) -> None:
        self.sources = {}
        self.unavailable = {"akd": "not in this test", "mkr": "not in this test", "aed": "not in this test"}

    def pair(self, real: np.ndarray, generated: np.ndarray) -> PairFeatures:
        return PairFeatures(None, None, None, None)


@pytest.fixture(scope="module")
def test_videos(tmp_path_factory):
    """One test video: the parity source image, then the 8 parity driving frames (a folder of PNGs)."""
    folder = tmp_path_factory.mktemp("eval") / "test"
    frames = [read_image(PARITY / "source.png"), *np.load(PARITY / "driving.npy")]
    (folder / "clip").mkdir(parents=True)
    for index, frame in enumerate(frames):
        write_image(folder / "clip" / f"{index:03d}.png", frame)
    return folder, np.stack(frames)


def test_l1_is_scored_on_the_float_predictions_of_the_reference(test_videos):
    """Frames 1-8 reconstruct the driving frames from the source with absolute keypoints: the reference's
    ``pred_absolute``. Per frame, L1 equals mean |reference float prediction - real| (not the uint8 frame's)."""
    folder, frames = test_videos
    model = load_model(PARITY / "a.pth.tar")
    model.config.image_size = (64, 64)
    report = evaluate_model(model, folder, NoExtractors(), inputs={"model": "a"}, batch_size=3)
    assert report.l1_input == "float" and to_json(report)["l1_input"] == "float"
    assert "float predictions" in report.metrics["l1"].source
    reference = np.load(PARITY / "expected_a.npz")["pred_absolute"].astype(np.float64)  # T x H x W x 3
    real = frames[1:].astype(np.float64) / 255
    expected = np.abs(reference - real).reshape(8, -1).mean(axis=1)
    ours = report.videos[0].per_frame["l1"][1:]
    assert np.allclose(ours, expected, rtol=1e-4, atol=0), (ours, expected)
    rounded = np.abs(np.rint(reference * 255) / 255 - real).reshape(8, -1).mean(axis=1)
    assert np.abs(rounded - expected).max() > 20 * np.abs(ours - expected).max()  # uint8 scoring would show


def test_the_baseline_is_scored_on_frames(test_videos):
    folder, frames = test_videos
    report = evaluate_baseline(folder, NoExtractors(), inputs={"baseline": "first frame"})
    assert report.l1_input == "uint8" and "uint8 frames" in report.metrics["l1"].source
    expected = np.abs(frames.astype(np.float64) - frames[0]).reshape(9, -1).mean(axis=1) / 255
    assert np.allclose(report.videos[0].per_frame["l1"], expected)
