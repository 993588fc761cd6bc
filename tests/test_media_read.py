"""Reading driving videos: variable frame rate, resampling, segments, frame folders, damaged input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from fomm_cli.errors import InputError, InputNotFound, InvalidSetting
from fomm_cli.media.reader import VideoSource
from fomm_cli.media.video import VideoWriter, iter_frames, probe, read_frames, write_video
from fomm_cli.reporting import Reporter
from tests.media_inputs import (
    BEEP,
    beep_time,
    cfr_video,
    ffmpeg,
    frame_index,
    level_frames,
    source_index,
    vfr_video,
)


@pytest.fixture(scope="module")
def vfr(tmp_path_factory):
    return vfr_video(tmp_path_factory.mktemp("vfr") / "phone.mp4")


def assert_timing(frames: np.ndarray, fps: float, start: float = 0.0) -> None:
    """Output frame i (at start + i / fps) shows the input frame of that moment, give or take one frame."""
    shown = [frame_index(f) for f in frames]
    expected = [source_index(start + i / fps) for i in range(len(frames))]
    assert all(abs(s - e) <= 1 for s, e in zip(shown, expected, strict=True)), (shown, expected)


def test_variable_frame_rate_keeps_duration_motion_and_audio_sync(vfr, tmp_path):
    info = probe(vfr)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.fps_from == "stream" and 15 < info.fps < 30  # the stream's average rate, not its 30 fps base rate
    frames = read_frames(vfr)
    assert abs(len(frames) - 2.0 * info.fps) <= 1 and abs(len(frames) - info.num_frames) <= 1
    assert_timing(frames, info.fps)

    with VideoSource(vfr) as source:
        audio = source.audio
        out = write_video(tmp_path / "out.mp4", source.frames(), source.info.fps, audio_from=audio.path,
                          audio_start=audio.start, audio_duration=audio.duration)
    written = probe(out)
    assert written.duration == pytest.approx(2.0, abs=0.1) and written.has_audio
    shown = read_frames(out)
    flash = next(i for i, f in enumerate(shown) if frame_index(f) >= 35) / written.fps
    assert abs(flash - BEEP[0]) <= 1 / written.fps + 0.03 and abs(beep_time(out) - BEEP[0]) <= 0.03


def test_explicit_fps_resamples_by_timestamp(vfr):
    frames = read_frames(vfr, fps=10)
    assert len(frames) == 20
    assert_timing(frames, 10)
    assert probe(vfr, fps="10").fps_from == "setting"


def test_constant_rate_video_resampled_to_half(tmp_path):
    video = cfr_video(tmp_path / "cfr.mp4", 40, fps=20)
    frames = read_frames(video, fps=10)
    assert [frame_index(f) for f in frames] == list(range(0, 40, 2))
    assert [frame_index(f) for f in read_frames(video)] == list(range(40))  # native rate: every frame, once


def test_segment_in_seconds_and_frames_with_audio_cut_to_match(vfr, tmp_path):
    with VideoSource(vfr, start=1.0, end="2.0") as source:
        info, audio = source.info, source.audio
        assert (info.start, info.duration) == (1.0, pytest.approx(1.0, abs=0.05))
        assert (audio.start, audio.duration) == (1.0, pytest.approx(1.0, abs=0.05))
        out = write_video(tmp_path / "segment.mp4", source.frames(), info.fps, audio_from=audio.path,
                          audio_start=audio.start, audio_duration=audio.duration)
    frames = read_frames(out)
    assert abs(len(frames) - info.fps) <= 1
    assert_timing(frames, info.fps, start=1.0)
    assert probe(out).duration == pytest.approx(1.0, abs=0.08)
    assert beep_time(out) == pytest.approx(BEEP[0] - 1.0, abs=0.03)  # the beep moved with the frames

    counted = read_frames(vfr, start="10f", end="30f", fps=20)  # frame numbers at the chosen rate
    assert len(counted) == 20
    assert_timing(counted, 20, start=0.5)


def test_segment_seeks_instead_of_decoding_the_skipped_part(tmp_path):
    """The first 40 frames of an all-intra (MJPEG) video are damaged: a segment after them decodes cleanly
    only if ffmpeg seeks past them rather than decoding and dropping them."""
    video = cfr_video(tmp_path / "mjpeg.mkv", 100, codec=["-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj444p"])
    data = bytearray(video.read_bytes())
    for start in [m.start() for m in re.finditer(b"\xff\xda", data)][:40]:  # start-of-scan of each JPEG
        data[start + 20:start + 200] = bytes(180)
    video.write_bytes(bytes(data))
    whole, segment = Reporter(), Reporter()
    assert len(list(iter_frames(video, reporter=whole))) == 100 and whole.warnings  # damage seen and reported
    frames = list(iter_frames(video, start=2.0, reporter=segment))
    assert len(frames) == 50 and segment.warnings == []
    assert [frame_index(f) for f in frames[:3]] == [50 % 60, 51 % 60, 52 % 60]


def test_frames_folder_gets_its_rate(tmp_path):
    folder = write_video(tmp_path / "frames", level_frames(10), 25)
    assert probe(folder).fps == 25 and probe(folder).fps_from == "default"
    info = probe(folder, fps=12.5)
    assert (info.fps, info.num_frames, info.duration, info.fps_from) == (12.5, 10, 0.8, "setting")
    segment = probe(folder, fps=10, start="0.2", end="6f")
    assert (segment.num_frames, segment.start) == (4, 0.2)
    assert [frame_index(f) for f in read_frames(folder, fps=10, start="0.2", end="6f")] == [2, 3, 4, 5]


def test_truncated_video_warns_where_decoding_stopped(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (100, 64, 64, 3), np.uint8)
    video = write_video(tmp_path / "full.mkv", noise, 25)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    reporter = Reporter()
    frames = list(iter_frames(cut, reporter=reporter))
    assert 10 < len(frames) < 90
    assert len(reporter.warnings) == 1
    assert f"decoding stopped at frame {len(frames)} of about 100" in reporter.warnings[0]
    clean = Reporter()
    assert len(list(iter_frames(video, reporter=clean))) == 100 and clean.warnings == []


def test_truncated_mp4_with_its_index_first(tmp_path):
    noise = np.random.default_rng(1).integers(0, 255, (60, 64, 64, 3), np.uint8)
    video = write_video(tmp_path / "full.mp4", noise, 25)  # +faststart: the index comes before the data
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: int(video.stat().st_size * 0.6)])
    reporter = Reporter()
    frames = list(iter_frames(cut, reporter=reporter))
    assert 0 < len(frames) < 60
    assert re.search(rf"decoding stopped at frame {len(frames)} of about 60", reporter.warnings[0])


def test_no_frame_at_all_is_an_input_error(tmp_path):
    video = cfr_video(tmp_path / "ok.mp4", 20)
    header_only = tmp_path / "header.mp4"
    header_only.write_bytes(video.read_bytes()[:1200])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    for bad in (header_only, garbage):
        with pytest.raises(InputError) as caught:
            read_frames(bad)
        assert caught.value.path == bad and "decode" in str(caught.value)
    with pytest.raises(InputNotFound):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(InvalidSetting) as caught:
        probe(video, start=5)  # the video is 0.8 s long
    assert caught.value.setting == "start"


def test_source_closes_its_decoder_when_abandoned(vfr):
    with VideoSource(vfr) as source:
        frames = source.frames()
        next(frames)
        (process,) = source._processes
    assert process.proc.poll() is not None  # closing the source stopped the half-read decoder


def test_writer_round_trip_counts(tmp_path):
    frames = level_frames(12)
    for name in ("a.mp4", "a.mov", "a.mkv", "a.y4m", "frames"):
        out = write_video(tmp_path / name, frames, 12)
        back = read_frames(out)
        assert [frame_index(f) for f in back] == list(range(12)), name
        assert math.isclose(probe(out).fps, 25 if name == "frames" else 12), name  # a folder has no rate of its own
    gif = write_video(tmp_path / "a.gif", frames, 12)  # delays in 1/100 s: 8 and 9, ffmpeg calls it 12.5 fps
    assert probe(gif).duration == pytest.approx(1.0, abs=0.02) and len(read_frames(gif, fps=12)) == 12
    writer = VideoWriter(tmp_path / "b.mkv", 12, audio_from=tmp_path / "a.mp4")
    assert writer.has_audio
    writer.abort()


def test_rotated_phone_video_is_read_upright(tmp_path):
    wide = cfr_video(tmp_path / "wide.mp4", 5, codec=["-c:v", "libx264", "-vf", "pad=96:64"])
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", wide, "-c", "copy", rotated)  # as a phone held upright records it
    info = probe(rotated)
    assert (info.width, info.height) == (64, 96) and read_frames(rotated).shape == (5, 96, 64, 3)


def test_audio_is_cut_to_its_duration_and_never_cuts_the_video(tmp_path):
    short = cfr_video(tmp_path / "short.mp4", 10, fps=10, audio=True)  # 1 s of sound
    out = write_video(tmp_path / "out.mp4", level_frames(40), 20, audio_from=short)
    assert len(read_frames(out)) == 40 and probe(out).duration == pytest.approx(2.0, abs=0.07)
    long = cfr_video(tmp_path / "long.mp4", 60, fps=10, audio=True)  # 6 s
    cut = write_video(tmp_path / "cut.mp4", level_frames(20), 20, audio_from=long, audio_start=2.0, audio_duration=1.0)
    assert probe(cut).duration == pytest.approx(1.0, abs=0.07) and probe(cut).has_audio
