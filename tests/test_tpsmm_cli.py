"""TPSMM checkpoints through the same commands as FOMM ones: `fomm animate` in its three modes reproduces the
reference's frames (lossless PNGs in and out), `--avd` is refused for models without an AVD network, `fomm eval`
scores a TPSMM, and a registered TPSMM that is not downloaded is one line saying how to get it."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from fomm_cli.media.image import read_image, write_image

from .conftest import FIXTURES
from .helpers import fomm_script

FIXTURE = FIXTURES / "tpsmm"


def fomm(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(fomm_script()), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


@pytest.fixture(scope="module")
def driving_folder(tmp_path_factory):
    """The fixture's 64 px driving frames as a folder of PNGs (a lossless driving video)."""
    folder = tmp_path_factory.mktemp("driving")
    strip = read_image(FIXTURE / "driving_64.png")
    for index, frame in enumerate(strip.reshape(64, -1, 64, 3).transpose(1, 0, 2, 3)):
        write_image(folder / f"{index:04d}.png", frame)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "flags"), [("relative", []), ("standard", ["--absolute"]), ("avd", ["--avd"])])
def test_animate_reproduces_the_reference_frames(mode, flags, driving_folder, tmp_path):
    out = tmp_path / "frames"
    result = fomm("animate", FIXTURE / "source_64.png", driving_folder, "-o", out, "-c", FIXTURE / "vox-256.pth.tar",
                  "--config", FIXTURE / "vox-256.yaml", "--device", "cpu", "--json", *flags)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 4 and summary["avd"] == (mode == "avd") and summary["relative"] == (mode != "standard")
    frames = np.stack([read_image(path) for path in sorted(out.glob("*.png"))])
    expected = np.load(FIXTURE / "expected_vox-256.npz")[f"frames_{mode}"]
    assert frames.shape == expected.shape and np.abs(frames.astype(int) - expected).max() <= 1


def test_avd_without_an_avd_network_is_one_line(driving_folder, tmp_path):
    result = fomm("animate", FIXTURE / "source_64.png", driving_folder, "-o", tmp_path / "x.mp4",
                  "-c", FIXTURE / "single-mask.pth.tar", "--config", FIXTURE / "single-mask.yaml", "--avd")
    assert result.returncode == 2 and "--avd" in result.stderr and "animation-via-disentanglement" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.mp4").exists()


def test_eval_scores_a_tpsmm_checkpoint(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "clip.png").write_bytes((FIXTURE / "driving_64.png").read_bytes())  # a PNG strip video
    result = fomm("eval", tmp_path / "test", "-c", FIXTURE / "vox-256.pth.tar", "--config", FIXTURE / "vox-256.yaml",
                  "--device", "cpu", "--save", tmp_path / "saved", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frames_scored"]["l1"] == 4 and 0 < report["l1"] < 1
    assert len(list((tmp_path / "saved").rglob("*.png"))) == 4


def test_registered_tpsmm_not_downloaded_is_one_line(driving_folder, tmp_path):
    result = fomm("animate", FIXTURE / "source_64.png", driving_folder, "-o", tmp_path / "x.mp4", "--model",
                  "tpsmm-vox", env={"HF_HOME": str(tmp_path / "hf"), "FOMM_HOME": str(tmp_path / "fomm")})
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "fomm models download tpsmm-vox" in result.stderr and "vox.pth.tar" in result.stderr
