"""Stopping `fomm animate` from outside, as `timeout`, a process manager or a closed terminal does: one line,
exit 128 + N, nothing left beside the output; leftovers of a killed run are removed by the next run."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import PARITY, driving_video, fomm_script, tiny_model_dir


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    return tiny_model_dir(root / "tiny"), driving_video(root / "long.mp4", repeat=40, audio=True)


def start(inputs, output: Path) -> subprocess.Popen:
    model, driving = inputs
    return subprocess.Popen([str(fomm_script()), "animate", str(PARITY / "source.png"), str(driving), "-o",
                             str(output), "-c", str(model), "--batch-size", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_work(folder: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the run has a temporary output beside the final one (it is encoding)."""
    deadline = time.monotonic() + timeout
    while not any(p.name.startswith(".") for p in folder.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    time.sleep(0.3)


@pytest.mark.parametrize(("number", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP"),
                                              (signal.SIGINT, "SIGINT")])
@pytest.mark.parametrize("suffix", [".mp4", ""])
def test_signal_ends_the_run_cleanly(inputs, tmp_path, number, name, suffix):
    output = tmp_path / f"out{suffix}"
    process = start(inputs, output)
    wait_for_work(tmp_path, process)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + number
    assert stderr.strip().splitlines()[-1] == f"fomm: interrupted by {name}" and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_a_killed_run_are_removed_by_the_next(inputs, tmp_path):
    process = start(inputs, tmp_path / "out.mp4")
    wait_for_work(tmp_path, process)
    process.kill()
    process.wait()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers  # what SIGKILL leaves: nothing can clean up after it
    (tmp_path / "mine.txt").write_text("not fomm's")
    model, driving = inputs
    result = subprocess.run([str(fomm_script()), "animate", str(PARITY / "source.png"), str(driving), "-o",
                             str(tmp_path / "other.mp4"), "-c", str(model), "--end", "2f"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "other.mp4"]
