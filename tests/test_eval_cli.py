"""`fomm eval` end to end: two folders of videos, and a tiny random-weight checkpoint on a small dataset."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fomm_cli.cli.app import main
from fomm_cli.media.image import read_image, write_image
from fomm_cli.media.video import write_video

skimage_data = pytest.importorskip("skimage.data")

SIZE = 160
METRICS = ("l1", "akd", "mkr", "aed")


def clip(shift: int = 0, frames: int = 3) -> list[np.ndarray]:
    photo = skimage_data.astronaut()
    return [np.ascontiguousarray(photo[20:20 + SIZE, 100 + 2 * i + shift:100 + 2 * i + shift + SIZE])
            for i in range(frames)]


def write_strip(path: Path, frames: list[np.ndarray]) -> None:
    write_image(path, np.concatenate(frames, axis=1))


def write_folder(path: Path, frames: list[np.ndarray]) -> None:
    path.mkdir()
    for i, frame in enumerate(frames):
        write_image(path / f"{i:04d}.png", frame)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test folder in three forms: a PNG strip, a folder of frames and an mp4."""
    root = tmp_path_factory.mktemp("real")
    write_strip(root / "strip.png", clip(frames=2))
    write_folder(root / "frames", clip(shift=8, frames=2))
    write_video(root / "movie.mp4", clip(shift=16, frames=2), fps=25)
    return root


def test_folders_against_themselves_score_zero(dataset: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    generated = tmp_path / "generated"
    shutil.copytree(dataset, generated)
    (generated / "strip.png").rename(generated / "strip.mp4.png")  # first-order-model's naming
    code, out, err = run(["eval", "--real", str(dataset), "--generated", str(generated), "--json",
                          "--face-backend", "dlib"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["l1"] == 0 and report["akd"] == 0 and report["aed"] == 0
    assert report["mkr"] is None and "mkr" in report["not_available"]
    assert report["frames_scored"]["akd"] == 6 and report["frames_scored"]["aed"] == 6
    assert report["extractors"]["akd"] == "dlib 68 landmarks"
    assert [v["name"] for v in report["videos"]] == ["frames", "movie", "strip"]
    assert all(set(METRICS) <= set(video) for video in report["videos"])


def test_shifted_folder_csv_and_table(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, generated = tmp_path / "real", tmp_path / "generated"
    real.mkdir()
    generated.mkdir()
    write_strip(real / "a.png", clip())
    write_strip(generated / "a.png", clip(shift=4))
    write_strip(generated / "unrelated.png", clip())
    code, out, err = run(["eval", "--real", str(real), "--generated", str(generated), "--csv",
                          "--face-backend", "dlib"], capsys)
    assert code == 0, err
    assert "unrelated" in err  # a generated video without a real one is reported, not scored
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["scope"], r["video"], r["frames"]) for r in rows] == [("video", "a", "3"), ("overall", "", "3")]
    assert float(rows[1]["akd"]) == pytest.approx(2.0, abs=0.35)  # shift 4 in x only: (4 + 0) / 2
    assert float(rows[1]["l1"]) > 0 and rows[1]["mkr"] == ""
    code, out, err = run(["eval", "--real", str(real), "--generated", str(generated), "--face-backend", "dlib"],
                         capsys)
    assert code == 0, err
    for label in ("L1", "AKD", "MKR", "AED", "dlib 68 landmarks", "dlib 128-D face descriptor"):
        assert label in out


def test_user_errors_are_one_line(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    partial = tmp_path / "generated"
    partial.mkdir()
    write_strip(partial / "strip.png", clip())  # "frames" and "movie" have no counterpart
    code, _, err = run(["eval", "--real", str(dataset), "--generated", str(partial)], capsys)
    assert code == 1 and err.count("\n") == 1 and "no video named like" in err
    code, _, err = run(["eval", "--real", str(dataset)], capsys)
    assert code == 2 and "--generated" in err
    code, _, err = run(["eval", str(dataset)], capsys)
    assert code == 2 and "--model" in err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fomm_cli.checkpoints import save_pretrained
    from fomm_cli.config import DenseMotionConfig, GeneratorConfig, KeypointDetectorConfig, ModelConfig
    from fomm_cli.models.model import FirstOrderModel

    torch.manual_seed(0)
    config = ModelConfig(
        num_kp=4, image_size=(SIZE, SIZE),
        kp_detector=KeypointDetectorConfig(block_expansion=8, max_features=32, num_blocks=3),
        generator=GeneratorConfig(block_expansion=8, max_features=32, num_down_blocks=2, num_bottleneck_blocks=1,
                                  dense_motion=DenseMotionConfig(block_expansion=8, max_features=32, num_blocks=3)),
    )
    return save_pretrained(FirstOrderModel(config), tmp_path_factory.mktemp("model") / "tiny")


@pytest.mark.slow
def test_model_reconstructs_and_prints_the_four_metrics(dataset: Path, checkpoint: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "reconstructions"
    code, out, err = run(["eval", "-c", str(checkpoint), str(dataset), "--save", str(saved), "--json",
                          "--face-backend", "dlib", "--device", "cpu", "--batch-size", "3"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] == str(checkpoint) and report["kind"] == "face"
    for metric in METRICS:  # a number, or null with the reason next to it
        assert isinstance(report[metric], float) or (report[metric] is None and report["not_available"][metric])
    assert report["l1"] > 0 and report["frames_scored"]["l1"] == 6
    # the real frames have a face, so AED is always defined (measured in the real face's box)
    assert report["aed"] > 0

    # reconstruction mode: source = first frame, absolute driving keypoints, as first-order-model does it
    from fomm_cli.animate import to_tensor
    from fomm_cli.checkpoints import load_model

    model = load_model(checkpoint)
    frames = np.stack(clip(frames=2))
    with torch.no_grad():
        source = to_tensor(frames[:1], torch.device("cpu"))
        driving = to_tensor(frames, torch.device("cpu"))
        kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
        expected = model.generator(source.expand(len(frames), -1, -1, -1), kp_driving=kp_driving,
                                   kp_source=kp_source.expand(len(frames))).prediction
    expected = expected.permute(0, 2, 3, 1).numpy() * 255
    written = np.stack([read_image(p) for p in sorted((saved / "strip").iterdir())]).astype(np.float64)
    assert np.abs(written - expected).max() <= 0.51  # rounding to uint8 only
    assert sorted(p.name for p in saved.iterdir()) == ["frames", "movie", "strip"]

    # the kept reconstructions score the same when compared as folders (L1 needs no extractor), up to the
    # rounding of the saved frames: with the model, L1 is scored on its float output, as the authors' script did
    assert report["l1_input"] == "float"
    code, out, err = run(["eval", "--real", str(dataset), "--generated", str(saved), "--json", "--kind", "body"],
                         capsys)
    assert code == 0, err
    folders = json.loads(out)
    assert folders["l1_input"] == "uint8"
    assert 0 < abs(folders["l1"] - report["l1"]) <= 0.5 / 255

    code, out, err = run(["eval", "-c", str(checkpoint), str(dataset), "--save", str(saved)], capsys)
    assert code == 1 and "exists" in err


def test_baseline_scores_the_repeated_first_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = clip(frames=3)
    write_strip(tmp_path / "a.png", frames)
    code, out, err = run(["eval", "--baseline", str(tmp_path), "--json", "--face-backend", "dlib"], capsys)
    assert code == 0, err
    report = json.loads(out)
    first = frames[0].astype(np.float64) / 255
    expected = np.mean([np.abs(f.astype(np.float64) / 255 - first).mean() for f in frames])  # frame 0 scores 0
    assert report["baseline"] == "first frame" and report["frames_scored"]["l1"] == 3
    assert report["l1"] == pytest.approx(expected, rel=1e-6) and report["l1"] > 0
    code, _, err = run(["eval", "--baseline", str(tmp_path), "-c", str(tmp_path)], capsys)
    assert code == 2 and "--baseline" in err and err.count("\n") == 1
