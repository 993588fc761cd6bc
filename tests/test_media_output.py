"""Outputs are never destroyed: what may be replaced, special files, inputs, concurrent runs, leftovers."""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fomm_cli import fsutil
from fomm_cli.errors import ConflictingSettings, InvalidSetting, OutputError, OutputExists, UnsafeOutput
from fomm_cli.fsutil import temp_owner, temp_path
from fomm_cli.media.outputs import FRAMES_MARKER, check_output
from fomm_cli.media.video import VideoWriter, read_frames, write_video
from tests.media_inputs import frame_index, level_frames, run_child

FRAMES = level_frames(6)


def write(path: Path, count: int = 6, **settings) -> Path:
    return write_video(path, FRAMES[:count], 10, **settings)


def temp_entries(folder: Path) -> list[str]:
    """Our temporary names anywhere under ``folder``."""
    return [p.name for p in folder.rglob("*") if temp_owner(p.name) is not None]


def test_formats_and_kinds(tmp_path):
    assert (check_output(tmp_path / "a.mp4").format, check_output(tmp_path / "a.mp4").kind) == ("mp4", "file")
    assert (check_output(tmp_path / "out").format, check_output(tmp_path / "out").kind) == ("frames", "folder")
    assert check_output(tmp_path / "a.m4v").format == "mp4"
    assert (check_output("-").format, check_output("-").kind) == ("mkv", "stdout")
    assert check_output("-", "y4m").streaming
    with pytest.raises(InvalidSetting) as caught:
        check_output("-", "frames")
    assert caught.value.setting == "format"
    with pytest.raises(OutputError, match=r"unknown output format '\.avi'"):
        check_output(tmp_path / "a.avi")
    with pytest.raises(InvalidSetting):
        check_output(tmp_path / "a.mp4", "webm")
    with pytest.raises(ConflictingSettings):
        check_output(tmp_path / "a.mp4", "gif")
    assert list(tmp_path.iterdir()) == []  # the checks leave nothing behind


def test_existing_file_is_kept_or_replaced_whole(tmp_path):
    out = write(tmp_path / "a.mp4")
    with pytest.raises(OutputExists) as caught:
        write(out, 3)
    assert not caught.value.during_run and len(read_frames(out)) == 6
    write(out, 3, overwrite=True)
    assert len(read_frames(out)) == 3 and temp_entries(tmp_path) == []


def test_symlinked_file_is_written_through(tmp_path):
    real = write(tmp_path / "real.mp4")
    link = tmp_path / "link.mp4"
    link.symlink_to(real)
    write(link, 3, overwrite=True)
    assert link.is_symlink() and len(read_frames(real)) == 3


def test_output_that_is_an_input_is_refused_even_with_overwrite(tmp_path):
    driving = write(tmp_path / "driving.mp4")
    before = driving.read_bytes()
    (tmp_path / "link.mp4").symlink_to(driving)
    os.link(driving, tmp_path / "hard.mp4")
    for out in (driving, tmp_path / "link.mp4", tmp_path / "hard.mp4"):
        with pytest.raises(UnsafeOutput) as caught:
            write(out, overwrite=True, inputs=[driving])
        assert f"one of the inputs ({driving})" in str(caught.value)
    folder = write(tmp_path / "frames")
    source = folder / "000000.png"
    with pytest.raises(UnsafeOutput, match="contains the input"):
        check_output(folder, overwrite=True, inputs=[source])
    with pytest.raises(UnsafeOutput, match="one of the inputs"):
        check_output(folder, overwrite=True, inputs=[folder])  # a frames folder read and written
    assert driving.read_bytes() == before and temp_entries(tmp_path) == []
    code = "from fomm_cli.media.outputs import check_output; check_output('-', inputs=[sys.argv[1]])"
    with open(driving, "ab") as same:
        child = subprocess.run([sys.executable, "-c", "import sys; " + code, str(driving)], stdout=same,
                               stderr=subprocess.PIPE, text=True)
    assert "UnsafeOutput" in child.stderr and "standard output is the input" in child.stderr


def read_pipe(path: Path, into: list[bytes]) -> threading.Thread:
    def run() -> None:
        with open(path, "rb") as pipe:
            into.append(pipe.read())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_fifo_and_symlink_to_fifo_are_written_to_and_survive(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.mp4"
    link.symlink_to(fifo)
    for out, fmt in ((fifo, None), (link, None), (fifo, "y4m")):
        received: list[bytes] = []
        reader = read_pipe(fifo, received)
        write(out, overwrite=out is link, format=fmt)
        reader.join(10)
        copy = tmp_path / f"copy.{fmt or out.suffix.lstrip('.') or 'mkv'}"
        copy.write_bytes(received[0])
        assert [frame_index(f) for f in read_frames(copy)] == list(range(6))
        copy.unlink()
    assert stat.S_ISFIFO(fifo.stat().st_mode) and link.is_symlink()
    with pytest.raises(InvalidSetting):
        check_output(fifo, "frames")


@pytest.mark.skipif(os.geteuid() != 0, reason="creating device nodes needs root")
def test_character_device_is_a_sink_and_block_device_is_refused(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    write(null)
    write(null, overwrite=True)
    assert stat.S_ISCHR(null.stat().st_mode) and os.major(null.stat().st_rdev) == 1
    disk = tmp_path / "disk"
    os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    with pytest.raises(UnsafeOutput, match="block device"):
        write(disk, overwrite=True)
    assert stat.S_ISBLK(disk.stat().st_mode)


def test_socket_is_refused(tmp_path):
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(UnsafeOutput, match="socket"):
            write(path, overwrite=True)
    assert stat.S_ISSOCK(path.stat().st_mode)


def test_only_fomm_frame_folders_are_replaced(tmp_path):
    frames = write(tmp_path / "frames")
    assert (frames / FRAMES_MARKER).is_file()
    with pytest.raises(OutputExists):
        write(frames, 3)
    write(frames, 3, overwrite=True)
    assert sorted(p.name for p in frames.iterdir()) == [FRAMES_MARKER, "000000.png", "000001.png", "000002.png"]

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    unmarked = write(tmp_path / "unmarked")
    (unmarked / FRAMES_MARKER).unlink()
    for folder in (mine, unmarked):
        with pytest.raises(UnsafeOutput):
            write(folder, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(unmarked.iterdir())) == 6
    (frames / "notes.txt").write_text("x")
    with pytest.raises(UnsafeOutput, match=r"notes\.txt"):
        write(frames, overwrite=True)
    (frames / "notes.txt").unlink()

    empty = tmp_path / "empty"
    empty.mkdir()
    write(empty, overwrite=True)  # holds nothing that could be lost
    assert len(read_frames(empty)) == 6 and temp_entries(tmp_path) == []


def test_current_folder_as_output(tmp_path):
    """``-o . -y``: replaced in place when it is a fomm frames folder (no ``..XXXX`` folder beside it), refused
    otherwise."""
    frames = write(tmp_path / "frames")
    inode = frames.stat().st_ino
    code = ("from tests.media_inputs import level_frames; from fomm_cli.media.video import write_video\n"
            "write_video('.', level_frames(4), 10, overwrite=True)")
    done = run_child(code, cwd=frames)
    assert done.returncode == 0, done.stderr
    assert frames.stat().st_ino == inode and len(read_frames(frames)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"] and temp_entries(tmp_path) == []

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "main.py").write_text("print()")
    refused = run_child(code, cwd=tmp_path / "project")
    assert refused.returncode == 1 and "UnsafeOutput" in refused.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "project").iterdir()) == ["main.py"]


@pytest.mark.parametrize("method", ["renameat2", "link", "rename"])
def test_concurrent_runs_without_overwrite_never_replace_each_other(tmp_path, monkeypatch, method):
    if method != "renameat2":
        monkeypatch.setattr(fsutil, "_renameat2", lambda *args: False)
    if method == "rename":
        monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EPERM, "no links")))
    for out in (tmp_path / "race.mp4", tmp_path / "race"):
        first, second = VideoWriter(out, 10), VideoWriter(out, 10)  # both checked before either finished
        for frame in FRAMES:
            first.write(frame)
            second.write(frame[::-1])
        first.close()
        with pytest.raises(OutputExists) as caught:
            second.close()
        assert caught.value.during_run
        assert len(read_frames(out)) == 6 and temp_entries(tmp_path) == []


def test_leftovers_of_dead_runs_are_removed_others_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead_file": f".out.mp4.fomm-{dead.pid}-0123abcd.tmp",
            "dead_dir": f".frames.fomm-{dead.pid}-0123abcd.tmp",
            "live": f".out.mp4.fomm-{sleeper.pid}-0123abcd.tmp",
            "ours_now": f".out.mp4.fomm-{os.getpid()}-0123abcd.tmp",
            "user": f".out.mp4.{dead.pid}-0123abcd.mp4",
        }
        for key, name in names.items():
            (tmp_path / name).mkdir() if key == "dead_dir" else (tmp_path / name).write_text("x")
        write(tmp_path / "out.mp4")
        left = {p.name for p in tmp_path.iterdir()}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert left == {"out.mp4", names["live"], names["ours_now"], names["user"]}


def test_long_names_get_temp_names_within_name_max(tmp_path):
    for name in ("a" * 245 + ".mp4", "é" * 124 + ".mp4", "f" * 250):
        out = tmp_path / name
        assert len(os.fsencode(temp_path(out).name)) <= 255
        temp_path(out).name.encode("utf-8")  # never a cut multi-byte character
        write(out)
        assert out.exists() and temp_entries(tmp_path) == []
    with pytest.raises(OutputError, match="file name too long"):
        write(tmp_path / ("b" * 252 + ".mp4"))


def test_missing_folder_and_pseudo_file_systems(tmp_path):
    with pytest.raises(OutputError, match="the folder does not exist"):
        write(tmp_path / "nope" / "a.mp4")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file is not a folder"):
        write(tmp_path / "file" / "a.mp4")
    with pytest.raises(OutputError) as caught:
        check_output("/proc/fomm-test.mp4")
    assert caught.value.path == Path("/proc/fomm-test.mp4")
    with pytest.raises(OutputError):
        write(Path("/proc/fomm-test"))


def test_folder_removed_during_the_run(tmp_path):
    for name in ("a.mp4", "frames"):
        folder = tmp_path / "gone"
        folder.mkdir()
        writer = VideoWriter(folder / name, 10)
        writer.write(FRAMES[0])
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        with pytest.raises(OutputError) as caught:
            writer.write(FRAMES[1])
            writer.close()
        assert "its folder was removed during the run" in str(caught.value)
        assert not folder.exists()
