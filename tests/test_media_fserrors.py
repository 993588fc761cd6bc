"""File-system errors: read-only folders and full disks give ``OutputError(path, reason)`` and leave nothing.

A full disk is a 256 KiB tmpfs where mounting is allowed (root), and a file-size limit (RLIMIT_FSIZE) in a
child process everywhere. A read-only file system is a read-only bind mount (root); a folder without write
permission is a 0555 folder, written by a child without the capability to override permissions when the
tests run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fomm_cli.errors import OutputError
from fomm_cli.media.outputs import check_output
from fomm_cli.media.video import VideoWriter, write_video
from tests.media_inputs import ROOT, run_child

NOISE = np.random.default_rng(0).integers(0, 255, (60, 64, 64, 3), np.uint8)  # ~12 KB a frame, coded or not


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tiny_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0 or not mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)):
        pytest.skip("cannot mount a tmpfs here (the file-size-limit test covers full disks)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def read_only_mount(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0 or not (mount("--bind", str(folder), str(folder))
                                 and mount("-o", "remount,bind,ro", str(folder))):
        pytest.skip("cannot make a read-only bind mount here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_read_only_file_system(read_only_mount):
    for name in ("a.mp4", "frames", "a.gif"):
        with pytest.raises(OutputError) as caught:
            check_output(read_only_mount / name)
        assert caught.value.reason == "read-only file system" and caught.value.path == read_only_mount / name
        with pytest.raises(OutputError, match="read-only file system"):
            write_video(read_only_mount / name, NOISE[:2], 10)
    assert os.listdir(read_only_mount) == []


WRITE_ALL = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from fomm_cli.errors import OutputError
from fomm_cli.media.outputs import check_output
from fomm_cli.media.video import write_video
from tests.test_media_fserrors import NOISE
for name in ("a.mp4", "frames", "a.gif"):
    path = sys.argv[1] + "/" + name
    for attempt in (lambda: check_output(path), lambda: write_video(path, NOISE[:2], 10)):
        try:
            attempt()
        except OutputError as err:
            print(name, err.reason)
"""


def test_folder_without_write_permission(tmp_path):
    """Root ignores permissions: then the child runs without the capability to (setpriv)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    command = [sys.executable, "-c", WRITE_ALL, str(folder)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: permissions cannot be tested")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    folder.chmod(0o755)
    assert done.stdout.splitlines() == [f"{name} permission denied" for name in ("a.mp4", "frames", "a.gif")
                                        for _ in range(2)], done.stderr
    assert os.listdir(folder) == []


@pytest.mark.parametrize("name", ["a.mp4", "a.mkv", "frames", "a.gif"])
def test_full_disk(tiny_disk, name):
    with pytest.raises(OutputError) as caught:
        write_video(tiny_disk / name, NOISE, 10, crf=0)
    assert caught.value.reason == "no space left on device" and caught.value.path == tiny_disk / name
    assert os.listdir(tiny_disk) == []


def test_full_disk_while_spooling_stdin(tiny_disk, tmp_path):
    video = write_video(tmp_path / "big.mkv", NOISE, 10, crf=0)  # ~700 KB, more than the disk holds
    code = "from fomm_cli.media.reader import VideoSource\nVideoSource('-', rereadable=True)"
    with open(video, "rb") as stdin:
        done = run_child(code, stdin=stdin, env={"TMPDIR": str(tiny_disk)})
    assert "OutputError" in done.stderr.decode() and "no space left on device" in done.stderr.decode()
    assert os.listdir(tiny_disk) == []


def test_file_size_limit_in_a_child(tmp_path):
    """Works without root: ffmpeg inherits an 8 KB file-size limit and dies of SIGXFSZ (or gets EFBIG)."""
    code = f"""
import resource, sys
import numpy as np
sys.path.insert(0, {str(ROOT)!r})
from fomm_cli.errors import OutputError
from fomm_cli.media.video import write_video
from tests.test_media_fserrors import NOISE
resource.setrlimit(resource.RLIMIT_FSIZE, (8_000, 8_000))  # less than one frame
for name in ("a.mp4", "frames"):
    try:
        write_video(sys.argv[1] + "/" + name, NOISE, 10, crf=0)
    except OutputError as err:
        print(name, err.reason)
"""
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["a.mp4 file too large", "frames file too large"], done.stderr
    assert os.listdir(tmp_path) == []


def test_nothing_is_left_when_the_encoder_cannot_start(tmp_path, monkeypatch):
    import fomm_cli.media.writer as writer_module

    monkeypatch.setattr(writer_module, "ffmpeg_exe", lambda: str(tmp_path / "no-such-ffmpeg"))
    writer = VideoWriter(tmp_path / "a.mp4", 10)
    with pytest.raises(FileNotFoundError):
        writer.write(NOISE[0])
    assert os.listdir(tmp_path) == []


def test_paths_are_reported_as_given(tmp_path):
    relative = Path(os.path.relpath(tmp_path / "missing" / "a.mp4"))
    with pytest.raises(OutputError) as caught:
        check_output(relative)
    assert caught.value.path == relative and str(relative) in str(caught.value)
