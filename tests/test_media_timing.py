"""Times, segments and frame rates as users write them (torch-free settings parsing)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fomm_cli.errors import ConflictingSettings, InvalidSetting
from fomm_cli.media.timing import TimePoint, check_segment, parse_fps, parse_time


@pytest.mark.parametrize(("text", "seconds", "frame"), [
    ("12.5", 12.5, None), ("12.5s", 12.5, None), (3, 3.0, None), (0.25, 0.25, None), ("1:02.5", 62.5, None),
    ("1:00:02", 3602.0, None), ("120f", None, 120), ("0f", None, 0), (" 7F ", None, 7),
])
def test_parse_time(text, seconds, frame):
    assert parse_time(text) == TimePoint(seconds=seconds, frame=frame)


@pytest.mark.parametrize("text", ["-1", "abc", "1.5f", "nan", "inf", "f", "1:75", "", True, -2.0])
def test_bad_times_name_the_setting(text):
    with pytest.raises(InvalidSetting) as caught:
        parse_time(text, "end")
    assert caught.value.setting == "end" and "120f" in str(caught.value) and "--" not in str(caught.value)


def test_frame_numbers_and_seconds_convert_at_the_rate():
    assert parse_time("120f").to_seconds(25) == pytest.approx(4.8)
    assert parse_time("4.8").to_frame(25) == 120
    assert parse_time("4.81").to_frame(25) == 121  # the first frame at or after the point


@pytest.mark.parametrize(("value", "rate"),
                         [("25", 25.0), (29.97, 29.97), ("30000/1001", 30000 / 1001), (1000, 1000.0)])
def test_parse_fps(value, rate):
    assert parse_fps(value) == pytest.approx(rate)


@pytest.mark.parametrize("value", ["0", -5, "abc", "1/0", "nan", float("inf"), 1001, True])
def test_bad_fps(value):
    with pytest.raises(InvalidSetting) as caught:
        parse_fps(value)
    assert caught.value.setting == "fps"


def test_empty_segments_are_refused_when_they_can_be_compared():
    with pytest.raises(ConflictingSettings):
        check_segment(parse_time("5"), parse_time("2"))
    with pytest.raises(ConflictingSettings):
        check_segment(parse_time("50f"), parse_time("50f"))
    with pytest.raises(ConflictingSettings):
        check_segment(parse_time("100f"), parse_time("3"), fps=25)  # 4 s .. 3 s
    check_segment(parse_time("100f"), parse_time("3"))  # units differ, no rate yet: decided when the video opens
    check_segment(parse_time("1"), None)


def test_settings_parsing_and_output_checks_import_no_heavy_modules():
    code = ("import sys; import fomm_cli.media.timing, fomm_cli.media.outputs, fomm_cli.fsutil; "
            "print(sorted(m for m in ('torch', 'numpy', 'cv2', 'imageio_ffmpeg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
