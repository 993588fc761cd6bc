"""`fomm animate` end to end on a tiny model: outputs, flags, JSON, and failure modes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fomm_cli.media.image import read_image, write_image
from fomm_cli.media.video import probe, read_frames

from .helpers import PARITY, driving_frames, driving_video, tiny_model_dir


def fomm(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fomm_cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("animate")
    tiny_model_dir(root / "tiny")
    shutil.copy(PARITY / "source.png", root / "source.png")
    driving_video(root / "driving.mp4", repeat=2, audio=True)
    return root


def test_mp4_keeps_fps_and_audio_and_reports_json(workdir):
    out = workdir / "out.mp4"
    result = fomm("animate", workdir / "source.png", workdir / "driving.mp4", "-o", out, "-c", workdir / "tiny",
                  "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 16 and summary["output"] == str(out) and summary["model"]
    assert summary["fps"] > 0 and summary["relative"] and summary["adapt_scale"]
    info = probe(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (64, 64, 10.0, True)
    assert len(read_frames(out)) == 16


def test_existing_output_is_not_overwritten_without_y(workdir):
    out = workdir / "keep.mp4"
    out.write_bytes(b"earlier result")
    result = fomm("animate", workdir / "source.png", workdir / "driving.mp4", "-o", out, "-c", workdir / "tiny")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "exists" in result.stderr
    assert out.read_bytes() == b"earlier result"
    result = fomm("animate", workdir / "source.png", workdir / "driving.mp4", "-o", out, "-c", workdir / "tiny",
                  "-y", "--no-audio")
    assert result.returncode == 0, result.stderr
    assert not probe(out).has_audio


def test_png_frames_are_lossless_and_match_the_library(workdir):
    from fomm_cli.animate import Animator
    from fomm_cli.checkpoints import load_model

    out = workdir / "frames"
    result = fomm("animate", workdir / "source.png", workdir / "driving.mp4", "-o", out, "-c", workdir / "tiny",
                  "--absolute")
    assert result.returncode == 0, result.stderr
    written = read_frames(out)
    animator = Animator(load_model(workdir / "tiny"), "cpu", relative=False)
    expected = np.stack(list(animator.animate(read_image(workdir / "source.png"),
                                              iter(read_frames(workdir / "driving.mp4")))))
    assert np.array_equal(written, expected)


def test_best_frame_gif_and_side_by_side(workdir):
    out = workdir / "sbs.gif"
    result = fomm("animate", workdir / "source.png", workdir / "driving.mp4", "-o", out, "-c", workdir / "tiny",
                  "--best-frame", "3", "--side-by-side", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["best_frame"] == 3
    frames = read_frames(out)
    assert frames.shape == (16, 64, 192, 3)


def test_other_sizes_and_formats_are_resized(workdir, tmp_path):
    big = np.repeat(np.repeat(read_image(workdir / "source.png"), 3, axis=0), 2, axis=1)  # 192 x 128
    rgba = np.concatenate([big, np.full((*big.shape[:2], 1), 255, np.uint8)], axis=2)
    import cv2

    cv2.imwrite(str(tmp_path / "source.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    gray16 = (big[..., 0].astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray16.png"), gray16)
    for name in ("source.png", "gray16.png"):
        result = fomm("animate", tmp_path / name, workdir / "driving.mp4", "-o", tmp_path / f"{name}.mp4",
                      "-c", workdir / "tiny")
        assert result.returncode == 0, result.stderr
        assert "resized to 64x64" in result.stderr
        assert probe(tmp_path / f"{name}.mp4").width == 64


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: (d / "missing.png", d / "driving.mp4"), "not found"),
        (lambda d: (d / "corrupt.png", d / "driving.mp4"), "not a valid image"),
        (lambda d: (d / "source.png", d / "corrupt.mp4"), "cannot decode"),
        (lambda d: (d / "source.png", d / "empty"), "no image frames"),
    ],
)
def test_bad_input_one_line_no_traceback_no_output(workdir, tmp_path, make_input, message):
    (workdir / "corrupt.png").write_bytes(b"\x89PNG not really")
    (workdir / "corrupt.mp4").write_bytes(b"\x00" * 100)
    (workdir / "empty").mkdir(exist_ok=True)
    source, driving = make_input(workdir)
    out = tmp_path / "never.mp4"
    result = fomm("animate", source, driving, "-o", out, "-c", workdir / "tiny")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_wrong_checkpoint_is_a_clear_error(workdir, tmp_path):
    bogus = tmp_path / "bogus.pth.tar"
    import torch

    torch.save({"weights": torch.zeros(3)}, bogus)
    result = fomm("animate", workdir / "source.png", workdir / "driving.mp4", "-o", tmp_path / "x.mp4", "-c", bogus)
    assert result.returncode == 1 and "not a FOMM checkpoint" in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_pickled_objects_need_the_trust_flag(workdir, tmp_path):
    import torch

    from fomm_cli.checkpoints import load_model

    model = load_model(workdir / "tiny")
    unsafe = tmp_path / "unsafe.pth.tar"
    torch.save({"generator": model.generator.state_dict(), "kp_detector": model.kp_detector.state_dict(),
                "extra": slice(1, 2, 3)}, unsafe)  # a non-tensor object: weights_only refuses it
    args = ["animate", workdir / "source.png", workdir / "driving.mp4", "-o", tmp_path / "x.mp4", "-c", unsafe,
            "--config", PARITY / "a.yaml"]
    refused = fomm(*args)
    assert refused.returncode == 1 and "--trust-checkpoint" in refused.stderr
    # frame_shape is absent from a.yaml, so the config says 256: resize happens and still works
    trusted = fomm(*args, "--trust-checkpoint")
    assert trusted.returncode == 0, trusted.stderr


def test_keyboard_interrupt_leaves_no_partial_output(workdir, tmp_path):
    import signal
    import time

    long_video = driving_video(tmp_path / "long.mp4", repeat=100)
    out = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "fomm_cli", "animate", workdir / "source.png", long_video, "-o",
                             out, "-c", workdir / "tiny", "--batch-size", "1"], stderr=subprocess.PIPE, text=True,
                            # a shell's background jobs inherit SIGINT ignored; a terminal user's Ctrl-C is not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".interrupted*")) and time.monotonic() < deadline:  # encoding has started
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["long.mp4"]


def test_driving_frames_folder_and_library_api(workdir, tmp_path):
    frames_dir = tmp_path / "drv"
    frames_dir.mkdir()
    for i, frame in enumerate(driving_frames()):
        write_image(frames_dir / f"{i:04d}.png", frame)
    import fomm_cli

    loaded = fomm_cli.load_pretrained(checkpoint=workdir / "tiny")
    animator = fomm_cli.Animator(loaded.model, device="cpu", batch_size=3)
    frames = list(animator.animate(read_image(workdir / "source.png"), iter(read_frames(frames_dir))))
    assert len(frames) == 8 and frames[0].dtype == np.uint8 and loaded.name is None


def test_face_crop_paste_back_and_best_frame_on_a_large_portrait(workdir, tmp_path):
    """A 400 x 480 portrait: the face is cropped for the 64 px model and pasted back; the best frame is the
    driving frame that shows the source's own pose."""
    import cv2
    from skimage import data

    portrait = np.ascontiguousarray(data.astronaut()[:480, 50:450])
    write_image(tmp_path / "portrait.png", portrait)
    frames = []
    for i in range(6):  # the face turned and shifted, except frame 4 which is the portrait itself
        angle = 0 if i == 4 else 12 - 4 * i
        matrix = cv2.getRotationMatrix2D((200, 150), angle, 1.0 if i == 4 else 0.9)
        frames.append(cv2.warpAffine(portrait, matrix, (400, 480), borderMode=cv2.BORDER_REFLECT))
    from fomm_cli.media.video import write_video

    write_video(tmp_path / "drive", frames, 10)  # lossless PNG frames
    out = tmp_path / "result"
    result = fomm("animate", tmp_path / "portrait.png", tmp_path / "drive", "-o", out, "-c", workdir / "tiny",
                  "--crop", "--find-best-frame", "--face-backend", "dlib", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["best_frame"] == 4 and summary["face_backend"] == "dlib"
    x1, y1, x2, y2 = (round(v) for v in summary["crop_box"])
    assert x1 < 125 and x2 > 220 and y1 < 80 and y2 > 175  # the face (x 125-220, y 80-175) is inside
    assert x2 - x1 == y2 - y1 < 300  # a square much smaller than the portrait
    written = read_frames(out)
    assert written.shape == (6, 480, 400, 3)
    outside = np.ones((480, 400), bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(written[:, outside], np.broadcast_to(portrait[outside], written[:, outside].shape))
    assert not np.array_equal(written[0, y1:y2, x1:x2], portrait[y1:y2, x1:x2])
