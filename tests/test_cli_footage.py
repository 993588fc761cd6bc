"""`fomm animate` as a user runs it on ordinary footage: variable frame rate, truncated files, segments, frame
rates, pipes, motion controls, and outputs that must not be destroyed (the installed console script)."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import numpy as np
import pytest

from fomm_cli.media.image import read_image, write_image
from fomm_cli.media.video import probe, read_frames

from .helpers import PARITY, driving_frames, fomm_script, tiny_model_dir
from .media_inputs import beep_time, cfr_video, ffmpeg, vfr_video


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("footage") / "tiny")


def animate(model, driving, output, *args, stdin=None, check=True):
    result = subprocess.run([str(fomm_script()), "animate", str(PARITY / "source.png"), str(driving), "-o",
                             str(output), "-c", str(model), "--json", *map(str, args)], input=stdin,
                            capture_output=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr.decode()
    return result


def summary(result, stream="stdout"):
    return json.loads(getattr(result, stream))


def test_variable_frame_rate_keeps_duration_and_audio_sync(model, tmp_path):
    """2.0 s of phone-like video (30 fps, then 10 fps) with a beep at 1.5 s: the result lasts 2.0 s at the
    average rate and the beep is still at 1.5 s."""
    out = tmp_path / "result.mp4"
    info = summary(animate(model, vfr_video(tmp_path / "vfr.mp4"), out))
    assert info["video_fps"] == pytest.approx(20, abs=0.5) and info["audio"]
    written = probe(out)
    assert written.duration == pytest.approx(2.0, abs=0.1)
    assert info["frames"] == pytest.approx(40, abs=1)
    assert beep_time(out) == pytest.approx(1.5, abs=0.06)


def test_truncated_driving_video_warns_where_decoding_stopped(model, tmp_path):
    whole = cfr_video(tmp_path / "whole.mkv", 100, codec=["-c:v", "mjpeg"])
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = animate(model, cut, tmp_path / "out.mp4")
    warnings = summary(result)["warnings"]
    assert len(warnings) == 1 and "decoding stopped at frame" in warnings[0]
    assert f"warning: {warnings[0]}" in result.stderr.decode()


def test_segment_has_the_right_length_and_audio(model, tmp_path):
    driving = cfr_video(tmp_path / "long.mp4", 100, fps=25, audio=True)
    out = tmp_path / "segment.mp4"
    info = summary(animate(model, driving, out, "--start", "1", "--end", "60f"))
    assert info["frames"] == 35 and info["start"] == 1.0 and info["audio"]
    written = probe(out)
    assert written.has_audio and written.duration == pytest.approx(35 / 25, abs=0.08)
    # The reference frame counts inside the segment: frame 5 of the segment is frame 30 of the video.
    inside = summary(animate(model, driving, tmp_path / "inside", "--start", "1", "--end", "60f", "--best-frame", "5"))
    assert summary(animate(model, driving, tmp_path / "whole", "--best-frame", "30"))["best_frame"] == 30
    assert inside["best_frame"] == 5 and inside["frames"] == 35
    assert np.array_equal(read_frames(tmp_path / "inside")[5], read_frames(tmp_path / "whole")[30])


def test_fps_gives_a_frames_folder_its_rate(model, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(driving_frames()):
        write_image(folder / f"{index:04d}.png", frame)
    info = summary(animate(model, folder, tmp_path / "out.mp4", "--fps", "12"))
    assert (info["video_fps"], info["fps_from"], info["frames"]) == (12, "setting", 8)
    assert probe(tmp_path / "out.mp4").fps == 12
    bad = animate(model, folder, tmp_path / "bad.mp4", "--fps", "0", check=False)
    assert bad.returncode == 2 and b"--fps" in bad.stderr


def test_zero_motion_scale_gives_the_source_frame_and_controls_are_reported(model, tmp_path):
    out = tmp_path / "still"
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(driving_frames()):
        write_image(folder / f"{index:04d}.png", frame)
    info = summary(animate(model, folder, out, "--motion-scale", "0", "--smooth"))
    assert info["motion_scale"] == 0 and info["smoothing"] == 3 and info["version"]
    frames = read_frames(out)
    assert all(np.array_equal(frame, frames[0]) for frame in frames)  # nothing moves
    moving = tmp_path / "moving"
    animate(model, folder, moving)
    assert not np.array_equal(read_frames(moving)[0], read_frames(moving)[-1])


def test_stdin_to_stdout_pipeline(model, tmp_path):
    """ffmpeg -i in.mov -f matroska - | fomm animate face.png - -o - | ffmpeg -i - out.webm"""
    driving = cfr_video(tmp_path / "in.mov", 30, audio=True)
    stream = ffmpeg("-i", driving, "-f", "matroska", "-c:v", "ffv1", "-c:a", "pcm_s16le", "pipe:1")
    result = animate(model, "-", "-", stdin=stream)
    info = summary(result, "stderr")  # with -o -, the summary goes to stderr
    assert info["output"] == "-" and info["frames"] == 30
    ffmpeg("-i", "pipe:0", "-c:v", "libvpx-vp9", "-b:v", "200k", tmp_path / "out.webm", stdin=result.stdout)
    out = probe(tmp_path / "out.webm")
    assert (out.width, out.height) == (64, 64) and out.has_audio and out.duration == pytest.approx(1.2, abs=0.1)


def test_closed_pipe_ends_quietly(model, tmp_path):
    driving = cfr_video(tmp_path / "in.mp4", 200)
    script = f"{fomm_script()} animate {PARITY / 'source.png'} {driving} -o - -c {model} --batch-size 1 | head -c 1000"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, timeout=300)
    assert result.returncode in (141, 0) and b"Traceback" not in result.stderr


@pytest.mark.parametrize("format", ["mkv", "y4m", "gif", "mp4"])
def test_stdout_formats(model, tmp_path, format):
    result = animate(model, cfr_video(tmp_path / "in.mp4", 10), "-", "--format", format)
    (tmp_path / f"out.{format}").write_bytes(result.stdout)
    assert len(read_frames(tmp_path / f"out.{format}")) == 10


def test_outputs_that_must_not_be_destroyed(model, tmp_path):
    driving = cfr_video(tmp_path / "in.mp4", 5)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    result = animate(model, driving, folder, "-y", check=False)
    assert result.returncode == 1 and b"refusing" in result.stderr
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
    result = animate(model, driving, driving, "-y", check=False)
    assert result.returncode == 1 and b"one of the inputs" in result.stderr
    assert animate(model, driving, "/dev/null").returncode == 0  # a sink: written to, never replaced
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    frames = tmp_path / "frames"
    animate(model, driving, frames)
    animate(model, driving, frames, "-y")  # a folder fomm wrote is replaced
    assert len(read_frames(frames)) == 5
    assert read_image(sorted(frames.glob("*.png"))[0]).shape == (64, 64, 3)
