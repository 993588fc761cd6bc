"""Pipelines and signals, in child processes: stdin in, stdout out, closed pipes, SIGTERM/SIGHUP/SIGINT, SIGKILL."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import numpy as np
import pytest

from fomm_cli.fsutil import temp_owner
from fomm_cli.media.ffmpeg import ffmpeg_exe
from fomm_cli.media.video import probe, read_frames, write_video
from tests.media_inputs import (
    BEEP,
    beep_time,
    ffmpeg,
    frame_index,
    level_frames,
    processes_mentioning,
    run_child,
    source_index,
    start_child,
    vfr_video,
)

# Reads "-" (with its audio) and writes "-" in FORMAT, inverting the frames on the way: a stand-in for fomm animate.
FILTER = """
from fomm_cli.media.reader import VideoSource
from fomm_cli.media.writer import VideoWriter

def main():
    with VideoSource("-", want_audio=True) as source:
        audio = source.audio
        print(f"source: fps {source.info.fps} audio {audio is not None}", file=sys.stderr)
        with VideoWriter("-", source.info.fps, audio_from=audio.path if audio else None,
                         audio_start=audio.start if audio else 0.0, audio_duration=audio.duration if audio else None,
                         format=FORMAT) as writer:
            for frame in source.frames():
                writer.write(255 - frame)

run(main)
"""


def test_stdin_to_stdout_pipeline(tmp_path):
    """ffmpeg -i phone.mp4 -f matroska - | <filter> - -o - | ffmpeg -i - out.webm"""
    phone = vfr_video(tmp_path / "phone.mp4")
    out = tmp_path / "out.webm"
    spool = tmp_path / "spool"
    spool.mkdir()
    upstream = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-i", phone, "-c", "copy", "-f", "matroska", "-"],
                                stdout=subprocess.PIPE)
    child = start_child(FILTER.replace("FORMAT", "'mkv'"), env={"TMPDIR": str(spool)}, stdin=upstream.stdout,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    downstream = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "-", "-c:v", "libvpx-vp9", "-deadline", "realtime",
                                 "-c:a", "libopus", out], stdin=child.stdout, capture_output=True, timeout=60)
    upstream.stdout.close()
    child.stdout.close()
    assert child.wait(30) == 0 and upstream.wait(30) == 0 and downstream.returncode == 0, child.stderr.read()
    info = probe(out)
    assert info.duration == pytest.approx(2.0, abs=0.1) and info.has_audio
    frames = read_frames(out, fps=20)
    assert len(frames) == 40
    assert all(abs(frame_index(255 - f) - source_index(i / 20)) <= 1 for i, f in enumerate(frames))
    assert beep_time(out) == pytest.approx(BEEP[0], abs=0.04)
    assert os.listdir(spool) == []  # the copy of stdin (kept for the audio) is gone


def test_stdin_is_decoded_as_it_arrives(tmp_path):
    """Without a second pass or audio, frames come out before the input has ended (nothing is spooled)."""
    stream = ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x128:rate=25:duration=60", "-c:v", "libx264",
                    "-preset", "ultrafast", "-f", "matroska", "pipe:1")
    code = """
from fomm_cli.media.reader import VideoSource

def main():
    with VideoSource("-") as source:
        for i, frame in enumerate(source.frames()):
            if i == 0:
                print("first frame", flush=True)
    print(i + 1, flush=True)

run(main)
"""
    child = start_child(code, env={"TMPDIR": str(tmp_path)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    child.stdin.write(stream[: len(stream) * 6 // 10])
    child.stdin.flush()
    ready, _, _ = select.select([child.stdout], [], [], 30)
    assert ready and child.stdout.readline() == b"first frame\n"  # 40 % of the stream is still to come
    assert os.listdir(tmp_path) == []
    child.stdin.write(stream[len(stream) * 6 // 10:])
    child.stdin.close()
    assert child.stdout.read() == b"1500\n" and child.wait(30) == 0


@pytest.mark.parametrize("fmt", ["mkv", "mp4", "y4m", "gif"])
def test_stdout_formats(tmp_path, fmt):
    code = f"""
from fomm_cli.media.video import write_video
from tests.media_inputs import level_frames
run(lambda: write_video("-", level_frames(12), 12, format={fmt!r}))
"""
    done = run_child(code)
    assert done.returncode == 0, done.stderr
    copy = tmp_path / f"copy.{fmt}"
    copy.write_bytes(done.stdout)
    if fmt == "mp4":
        assert b"moof" in done.stdout  # fragmented: playable while it streams
    frames = read_frames(copy, fps=12)
    assert len(frames) == 12
    assert all(abs(frame_index(f) - i) <= (1 if fmt == "gif" else 0) for i, f in enumerate(frames))


@pytest.mark.parametrize("fmt", ["mkv", "gif"])
def test_closed_pipe_downstream_is_a_broken_pipe(fmt):
    """Like ``fomm animate ... -o - | head -c 3000``: a BrokenPipeError the command line ends quietly on."""
    code = f"""
import numpy as np
from fomm_cli.media.video import write_video
noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
run(lambda: write_video("-", (np.roll(noise, i) for i in range(400)), 25, format={fmt!r}))
"""
    read_end, write_end = os.pipe()
    child = start_child(code, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert len(pipe.read(3000)) == 3000
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 141 and stderr.decode().strip() == "quiet: broken pipe"


def slow_writer(target: str) -> str:
    return f"""
import time
from fomm_cli.media.video import VideoWriter
from tests.media_inputs import level_frames

def main():
    with VideoWriter({target!r}, 10) as writer:
        for i in range(100000):
            writer.write(level_frames(60)[i % 60])
            if i == 3:
                print("writing", file=sys.stderr, flush=True)
            time.sleep(0.02)

run(main)
"""


def wait_for_line(child: subprocess.Popen, line: bytes) -> None:
    ready, _, _ = select.select([child.stderr], [], [], 30)
    assert ready and child.stderr.readline() == line


def wait_until_gone(text: str) -> None:
    deadline = time.monotonic() + 10
    while processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(text) == []


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGTERM, "a.mp4"), (signal.SIGHUP, "frames"),
                                              (signal.SIGINT, "a.gif")])
def test_signals_stop_writers_and_remove_their_output(tmp_path, signum, name):
    child = start_child(slow_writer(str(tmp_path / name)), env={"TMPDIR": str(tmp_path)}, stderr=subprocess.PIPE)
    wait_for_line(child, b"writing\n")
    assert os.listdir(tmp_path)  # work in progress, under temporary names
    child.send_signal(signum)
    assert child.wait(30) == 128 + signum
    assert child.stderr.read().decode().startswith(f"stopped: interrupted by {signal.Signals(signum).name}")
    assert os.listdir(tmp_path) == [] and processes_mentioning(str(tmp_path)) == []


def test_signal_stops_a_reader_and_its_ffmpeg(tmp_path):
    video = write_video(tmp_path / "long.mp4", level_frames(60), 10)
    code = f"""
import time
from fomm_cli.media.video import iter_frames

def main():
    for i, frame in enumerate(iter_frames({str(video)!r})):
        print("reading", file=sys.stderr, flush=True)
        time.sleep(60)

run(main)
"""
    child = start_child(code, stderr=subprocess.PIPE)
    wait_for_line(child, b"reading\n")
    assert processes_mentioning(str(video))  # its decoder
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == 143
    wait_until_gone(str(video))


def test_signal_while_spooling_stdin_removes_the_spool(tmp_path):
    code = """
from fomm_cli.media.reader import VideoSource
run(lambda: VideoSource("-", rereadable=True))
"""
    stream = ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25:duration=20", "-c:v", "libx264", "-f", "matroska",
                    "pipe:1")
    child = start_child(code, env={"TMPDIR": str(tmp_path)}, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdin.write(stream[: len(stream) // 2])  # and keep the pipe open: the spool waits for the rest
    child.stdin.flush()
    deadline = time.monotonic() + 30
    while not os.listdir(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [temp_owner(name) for name in os.listdir(tmp_path)] == [child.pid]
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == 143
    child.stdin.close()
    assert os.listdir(tmp_path) == []


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    for name in ("a.mp4", "frames"):
        child = start_child(slow_writer(str(tmp_path / name)), stderr=subprocess.PIPE)
        wait_for_line(child, b"writing\n")
        child.kill()  # SIGKILL: no cleanup can run
        child.wait()
        left = [p for p in os.listdir(tmp_path) if temp_owner(p) == child.pid]
        assert len(left) == 1
        wait_until_gone(left[0])  # its ffmpeg sees the end of its input and exits
        write_video(tmp_path / name, level_frames(3), 10, overwrite=True)
        assert [p for p in os.listdir(tmp_path) if temp_owner(p) is not None] == []
    assert sorted(os.listdir(tmp_path)) == ["a.mp4", "frames"]
    assert len(read_frames(tmp_path / "frames")) == 3 and np.all(read_frames(tmp_path / "a.mp4")[0] == 8)


def test_stdin_read_twice_is_spooled_and_removed(tmp_path):
    """A second pass (best-frame search) needs stdin kept in a file; any stream ffmpeg reads works (y4m here)."""
    stream = ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64", "-r", "10", "-i", "pipe:0",
                    "-pix_fmt", "yuv444p", "-f", "yuv4mpegpipe", "pipe:1", stdin=level_frames(12).tobytes())
    code = """
from fomm_cli.media.reader import VideoSource
from tests.media_inputs import frame_index

def main():
    with VideoSource("-", rereadable=True) as source:
        first = [frame_index(f) for f in source.frames()]
        second = [frame_index(f) for f in source.frames()]
        print(first == second, first, source.info.fps, len(os.listdir(os.environ["TMPDIR"])))
    with VideoSource("-") as source:  # stdin is at its end now: nothing to decode
        pass

run(main)
"""
    done = run_child(code, input=stream, env={"TMPDIR": str(tmp_path)})
    assert done.stdout.decode().strip() == f"True {list(range(12))} 10.0 1", done.stderr
    assert "InputError" in done.stderr.decode() and os.listdir(tmp_path) == []
    once = """
from fomm_cli.media.reader import VideoSource

def main():
    with VideoSource("-") as source:
        print(sum(1 for _ in source.frames()))
        source.frames()

run(main)
"""
    done = run_child(once, input=stream)
    assert done.stdout == b"12\n" and "can be read only once" in done.stderr.decode()
