"""The animate job against the reference outputs: what the command writes is what the authors' code computed."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.jobs.animate import Options, run
from fomm_cli.media.image import write_image
from fomm_cli.media.video import read_frames

from .helpers import PARITY, driving_frames, tiny_model_dir


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("job")
    folder = root / "driving"
    folder.mkdir()
    for index, frame in enumerate(driving_frames()):  # lossless: the frames the reference saw
        write_image(folder / f"{index:04d}.png", frame)
    return folder, tiny_model_dir(root / "tiny")


@pytest.mark.parametrize(("key", "settings"), [
    ("pred_best3", {"best_frame": 3}),
    ("pred_relative_adapt", {}),
    ("pred_absolute", {"relative": False, "adapt_scale": False}),
])
def test_written_frames_match_the_reference(inputs, key, settings, tmp_path):
    driving, model = inputs
    summary = run(Options(source=PARITY / "source.png", driving=driving, output=tmp_path / "frames",
                          checkpoint=model, crop=False, **settings))
    expected = np.round(np.load(PARITY / "expected_a.npz")[key] * 255)
    written = read_frames(tmp_path / "frames").astype(np.float64)
    assert written.shape == expected.shape and np.abs(written - expected).max() <= 1
    if "best_frame" in settings:
        meta = np.load(PARITY / "expected_a.npz")
        assert summary.best_frame == 3
        assert summary.movement_scale == pytest.approx(float(meta["adapt_scale_best3"]), rel=1e-5)
