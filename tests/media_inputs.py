"""Test inputs for the media layer, made with the bundled ffmpeg: frames that say which frame they are,
variable-frame-rate video with a timed beep, damaged files, and a child-process runner for pipes and
signals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from fomm_cli.media.ffmpeg import ffmpeg_exe

SIZE = 64
BEEP = (1.5, 1.6)  # seconds: the beep in vfr_video's audio, when its frame 35 appears
ROOT = Path(__file__).resolve().parents[1]


def ffmpeg(*args: object, stdin: bytes | None = None) -> bytes:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", *map(str, args)],
                          input=stdin, capture_output=True, check=True).stdout


def level_frames(count: int) -> np.ndarray:
    """Frame k is uniformly gray at level 8 + 4k (k < 60): its index survives lossy coding."""
    levels = 8 + 4 * np.arange(count)
    return np.broadcast_to(levels[:, None, None, None], (count, SIZE, SIZE, 3)).astype(np.uint8).copy()


def frame_index(frame: np.ndarray) -> int:
    return round((float(frame.mean()) - 8) / 4)


def source_index(t: float) -> float:
    """The frame of ``vfr_video`` shown at time ``t``: 30 fps for a second, then 10 fps."""
    return 30 * t if t < 1 else 30 + 10 * (t - 1)


def vfr_video(path: Path, audio: bool = True) -> Path:
    """2.0 s of variable-rate video (phone-like): frames 0-29 at 30 fps, frames 30-39 at 10 fps, 40 frames
    in all; with ``audio``, silence but a 1 kHz beep during ``BEEP`` (frame 35 is shown from 1.5 s)."""
    def part(rate: int, first: int) -> list[object]:
        level = f"{8 + 4 * first}+4*N"
        return ["-f", "lavfi", "-i", f"nullsrc=s={SIZE}x{SIZE}:r={rate}:d=1,format=rgb24,"
                f"geq=r='{level}':g='{level}':b='{level}'"]
    args = [*part(30, 0), *part(10, 30)]
    if audio:
        args += ["-f", "lavfi", "-i", f"aevalsrc='if(between(t,{BEEP[0]},{BEEP[1]}),sin(2*PI*1000*t),0)':s=16000:d=2",
                 "-map", "2:a", "-c:a", "aac"]
    args += ["-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-fps_mode", "passthrough",
             "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"]
    ffmpeg(*args, path)
    return path


def cfr_video(path: Path, count: int, fps: float = 25, audio: bool = False, codec: list[str] | None = None) -> Path:
    """``count`` level frames (repeating after 60) at a constant ``fps``, lossless H.264 unless ``codec`` says
    otherwise (ffmpeg output arguments)."""
    args: list[object] = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE}x{SIZE}", "-r", fps, "-i", "pipe:0"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={count / fps}", "-c:a", "aac"]
    args += codec or ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"]
    frames = np.concatenate([level_frames(60)] * (count // 60 + 1))[:count]
    ffmpeg(*args, path, stdin=frames.tobytes())
    return path


def beep_time(media: Path) -> float:
    """When the audio of ``media`` first gets loud, in seconds."""
    # aresample first_pts=0: silence for any gap before the stream's first sample, so that the time is absolute
    pcm = np.frombuffer(ffmpeg("-i", media, "-map", "0:a:0", "-af", "aresample=async=1:first_pts=0", "-ac", "1",
                               "-ar", "16000", "-f", "s16le", "pipe:1"), np.int16).astype(np.float32)
    return int(np.argmax(np.abs(pcm) > 0.3 * np.abs(pcm).max())) / 16000


def child_env(env: dict | None = None) -> dict:
    """The environment for a child that imports ``tests.media_inputs`` (the repository on its path)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}


def run_child(code: str, *, stdin: object = None, input: bytes | None = None, env: dict | None = None,
              cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with the signal handlers the command line installs."""
    return subprocess.run([sys.executable, "-c", CHILD_PRELUDE + code], stdin=stdin, input=input,
                          capture_output=True, env=child_env(env), cwd=cwd, timeout=timeout)


def start_child(code: str, env: dict | None = None, **popen: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + code], env=child_env(env), **popen)


# What fomm's command line does with signals and closed pipes: SIGTERM, SIGHUP and SIGINT raise Interrupted and
# the exit code is 128 + the signal; a BrokenPipeError ends quietly with 141. Child code defines main() and
# calls run(main).
CHILD_PRELUDE = """
import os, signal, sys
from fomm_cli.errors import Interrupted

def _stop(signum, frame):
    raise Interrupted(signum)

for _s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(_s, _stop)

def run(main):
    try:
        main()
    except Interrupted as stop:
        print(f"stopped: {stop}", file=sys.stderr)
        sys.exit(128 + stop.signal_number)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing more can reach the closed pipe
        print("quiet: broken pipe", file=sys.stderr)
        sys.exit(141)

"""


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (to check that ffmpeg was stopped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
