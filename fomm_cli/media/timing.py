"""Points in a video and frame rates as users write them (no heavy imports: jobs validate settings with these).

A time is seconds (``12.5``, ``12.5s``, ``1:02.5``, ``1:00:02``) or a frame number with an ``f``
suffix (``120f``). Frame numbers count frames at the rate the video is read at (its average rate, or the
``fps`` setting), so ``120f`` at 25 fps is 4.8 s. Segments run from ``start`` (included) to ``end``
(excluded).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from fomm_cli.errors import ConflictingSettings, InvalidSetting

TIME_EXPECTED = "seconds (12.5, 1:02.5) or a frame number with f (120f), at least 0"
FPS_EXPECTED = "a frame rate above 0 and at most 1000 (25, 29.97 or 30000/1001)"
MAX_FPS = 1000.0
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


@dataclass(frozen=True)
class TimePoint:
    """A point in a video: ``seconds`` or ``frame`` (exactly one is set)."""

    seconds: float | None = None
    frame: int | None = None

    def to_seconds(self, fps: float) -> float:
        if self.seconds is not None:
            return self.seconds
        assert self.frame is not None
        return self.frame / fps

    def to_frame(self, fps: float) -> int:
        """The first frame at or after this point, at ``fps``."""
        if self.frame is not None:
            return self.frame
        assert self.seconds is not None
        return math.ceil(self.seconds * fps - 1e-6)

    def __str__(self) -> str:
        return f"{self.frame}f" if self.frame is not None else f"{self.seconds:g}s"


def parse_time(value: str | float | TimePoint, setting: str = "start") -> TimePoint:
    """Parse a user's time (see the module doc); raises ``InvalidSetting(setting, ...)``."""
    if isinstance(value, TimePoint):
        return value
    if isinstance(value, bool):
        raise InvalidSetting(setting, value, TIME_EXPECTED)
    if isinstance(value, (int, float)):
        return TimePoint(seconds=_seconds(float(value), setting, value))
    text = str(value).strip().lower()
    if text.endswith("f") and text[:-1].isdigit():
        return TimePoint(frame=int(text[:-1]))
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        if (hours is not None and int(minutes) >= 60) or float(seconds) >= 60:
            raise InvalidSetting(setting, value, TIME_EXPECTED)
        return TimePoint(seconds=int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds))
    try:
        number = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        raise InvalidSetting(setting, value, TIME_EXPECTED) from None
    return TimePoint(seconds=_seconds(number, setting, value))


def _seconds(number: float, setting: str, value: object) -> float:
    if not math.isfinite(number) or number < 0:
        raise InvalidSetting(setting, value, TIME_EXPECTED)
    return number


def parse_fps(value: str | float) -> float:
    """A frame rate: a positive number or a ratio ("30000/1001"); raises ``InvalidSetting("fps", ...)``."""
    if isinstance(value, bool):
        raise InvalidSetting("fps", value, FPS_EXPECTED)
    try:
        rate = float(Fraction(str(value).strip())) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError):
        raise InvalidSetting("fps", value, FPS_EXPECTED) from None
    if not math.isfinite(rate) or rate <= 0 or rate > MAX_FPS:
        raise InvalidSetting("fps", value, FPS_EXPECTED)
    return rate


def check_segment(start: TimePoint | None, end: TimePoint | None, fps: float | None = None) -> None:
    """Raise ``ConflictingSettings`` when ``end`` is not after ``start`` (checkable without the video when both
    use the same unit, or when ``fps`` is known)."""
    if start is None or end is None:
        return
    if start.frame is not None and end.frame is not None:
        empty = end.frame <= start.frame
    elif start.seconds is not None and end.seconds is not None:
        empty = end.seconds <= start.seconds
    elif fps is not None:
        empty = end.to_seconds(fps) <= start.to_seconds(fps)
    else:
        return
    if empty:
        raise ConflictingSettings(("start", "end"), f"end ({end}) must come after start ({start})")
