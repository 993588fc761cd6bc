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


# torchvision's VGG-19 ``features`` up to relu5_1, written out here rather than taken from the module under test:
# (index in ``features``, input channels, output channels) of each 3x3 convolution.
VGG19_CONVS = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
               (14, 256, 256), (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512),
               (28, 512, 512))


def random_vgg19_state(seed: int = 0) -> dict:
    """Seeded random VGG-19 trunk weights with torchvision's names (``features.<i>.weight`` / ``.bias``).

    Drawn in layer order from ``torch.Generator().manual_seed(seed)``: weights He-normal
    (std sqrt(2 / fan_in), so activations keep their scale through 13 layers), then biases N(0, 0.01).
    The training parity fixture was made with these weights in the reference's ``Vgg19``.
    """
    import math

    import torch

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for index, cin, cout in VGG19_CONVS:
        weight = torch.randn(cout, cin, 3, 3, generator=generator) * math.sqrt(2 / (cin * 9))
        state[f"features.{index}.weight"] = weight
        state[f"features.{index}.bias"] = 0.01 * torch.randn(cout, generator=generator)
    return state
