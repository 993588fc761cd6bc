"""The installed `fomm` console script on bad usage: one message on stderr, exit code 2, no traceback, and every
check that needs no model answered before torch is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import PARITY, fomm_script

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory) -> dict[str, str]:
    """An environment in which importing torch fails loudly: a command that reaches it shows a traceback."""
    root = tmp_path_factory.mktemp("no-torch")
    (root / "torch").mkdir()
    (root / "torch" / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    return {**os.environ, "PYTHONPATH": str(root)}


def run(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(fomm_script()), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize("args", [
    ["animte"],
    ["models", "lst"],
    ["animate", "a.png", "b.mp4"],  # no -o
    ["animate", "a.png", "b.mp4", "-o", "x.mp4", "--batch-size", "abc"],
    ["animate", "a.png", "b.mp4", "-o", "x.mp4", "--no-such-flag"],
])
def test_parser_errors_are_usage_errors(args, no_torch, tmp_path):
    result = run(*args, env=no_torch, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Error:" in one_line(result) and result.stdout == ""


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--batch-size", "0", "--batch-size must be at least 1, not 0"),
    ("--precision", "fp8", "--precision must be fp32, bf16 or fp16, not 'fp8'"),
    ("--crf", "99", "--crf must be an H.264 quality from 0 to 51, not 99"),
    ("--increase", "inf", "--increase must be a finite margin"),
    ("--increase", "nan", "--increase must be a finite margin"),
    ("--fit", "zoom", "--fit must be crop, pad or stretch, not 'zoom'"),
    ("--device", "gpu", "--device must be auto, cpu, cuda, cuda:N or mps, not 'gpu'"),
    ("--face-backend", "opencv", "--face-backend must be auto, face-alignment or dlib"),
    ("--domain", "faces", "--domain must be face, body"),
])
def test_value_checks_are_usage_errors_before_torch(flag, value, message, no_torch, tmp_path):
    result = run("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "x.mp4", flag, value,
                 env=no_torch)
    assert result.returncode == 2
    assert one_line(result).startswith(f"fomm: error: {message}")


def test_conflicting_flags(no_torch, tmp_path):
    result = run("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "x.mp4",
                 "--best-frame", "2", "--find-best-frame", env=no_torch)
    assert result.returncode == 2 and "--best-frame and --find-best-frame" in one_line(result)
    result = run("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "x.mp4",
                 "-m", "demo", "-c", PARITY / "a.pth.tar", env=no_torch)
    assert result.returncode == 2 and "--model and --checkpoint" in one_line(result)


def test_path_problems_fail_before_torch(no_torch, tmp_path):
    existing = tmp_path / "done.mp4"
    existing.write_bytes(b"an earlier result")
    cases = [
        (("animate", tmp_path / "missing.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "o.mp4"),
         "source image not found"),
        (("animate", PARITY / "source.png", tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4"),
         "driving video not found"),
        (("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", existing), "exists (pass -y"),
        (("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "o.avi2"),
         "unknown output format"),
        (("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "nowhere" / "o.mp4"),
         "folder does not exist"),
        (("animate", PARITY / "source.png", EXAMPLES / "driving.mp4", "-o", EXAMPLES / "driving.mp4", "-y"),
         "one of the inputs"),
    ]
    for args, message in cases:
        result = run(*args, env=no_torch)
        assert result.returncode == 1, (args, result.stderr)
        assert message in one_line(result), (args, result.stderr)
    assert existing.read_bytes() == b"an earlier result"


def test_version_and_help_need_no_torch(no_torch):
    from fomm_cli import __version__

    result = run("--version", env=no_torch)
    assert result.returncode == 0 and result.stdout.strip() == f"fomm {__version__}"
    assert run("animate", "--help", env=no_torch).returncode == 0


def test_debug_shows_the_traceback_without_leaking_into_children(tmp_path):
    result = run("--debug", "animate", tmp_path / "missing.png", EXAMPLES / "driving.mp4", "-o", tmp_path / "o.mp4")
    assert result.returncode == 1 and "Traceback" in result.stderr and "InputNotFound" in result.stderr
    assert "FOMM_DEBUG" not in os.environ


def test_python_m_entry_point_matches_the_script(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fomm_cli", "animte"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
