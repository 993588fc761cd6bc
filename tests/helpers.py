"""Small builders shared by tests: tiny models and short videos."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from fomm_cli.checkpoints import load_model, save_pretrained
from fomm_cli.media.video import ffmpeg_exe, write_video

PARITY = Path(__file__).resolve().parent / "fixtures" / "parity"


def fomm_script() -> Path:
    """The installed `fomm` console script of the interpreter running the tests (as a user runs it)."""
    script = Path(sys.executable).parent / "fomm"
    if not script.exists():
        raise RuntimeError(f"no fomm console script beside {sys.executable}: install the project (pip install -e .)")
    return script


def tiny_model_dir(path: Path) -> Path:
    """The parity fixture's model 'a' (64x64) saved in our format."""
    model = load_model(PARITY / "a.pth.tar")
    model.config.image_size = (64, 64)
    return save_pretrained(model, path)


def driving_frames(repeat: int = 1) -> np.ndarray:
    return np.concatenate([np.load(PARITY / "driving.npy")] * repeat)


def driving_video(path: Path, repeat: int = 2, fps: float = 10, audio: bool = False) -> Path:
    """A short mp4 of the parity driving frames, optionally with a sine-wave audio track."""
    import subprocess

    frames = driving_frames(repeat)
    if not audio:
        return write_video(path, frames, fps)
    silent = path.with_name(f"silent-{path.name}")
    write_video(silent, frames, fps)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={len(frames) / fps}", "-c:v", "copy", "-c:a", "aac", "-shortest",
                    str(path)], check=True)
    silent.unlink()
    return path
