"""Regenerate the example inputs from held-out synthetic identities (never used for training).

    python examples/make_examples.py          # examples/source.png and examples/driving.mp4
    python examples/make_examples.py --gif    # examples/demo.gif from them and the bundled demo model

writes examples/source.png (identity A, one still) and examples/driving.mp4 (identity B talking and turning,
96 frames at 25 fps), both 64x64 like the demo model. The demo model was trained on `fomm data synth`
seed 0, whose train and test identities use the "train" and "test" seed splits; these use "heldout".
The GIF shows source | driving | result side by side: the result of
`fomm animate examples/source.png examples/driving.mp4 --model demo`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from fomm_cli.media.image import read_image, write_image
from fomm_cli.media.video import read_frames, write_video
from fomm_cli.synth import identity_seed, render_video

HERE = Path(__file__).resolve().parent
SIZE = 64
FPS = 25


def make_inputs() -> None:
    source_identity = identity_seed(0, "heldout", 0)
    driving_identity = identity_seed(0, "heldout", 2)
    write_image(HERE / "source.png", render_video(source_identity, 1, SIZE)[0])
    write_video(HERE / "driving.mp4", render_video(driving_identity, 96, SIZE, clip=2), FPS, overwrite=True)
    print(f"source identity seed {source_identity}, driving identity seed {driving_identity}")


def make_gif() -> None:
    from fomm_cli.animate import Animator
    from fomm_cli.pretrained import load_pretrained

    source, driving = read_image(HERE / "source.png"), read_frames(HERE / "driving.mp4")
    result = Animator(load_pretrained("demo").model).animate(source, iter(driving))
    panels = (np.concatenate([source, frame, out], axis=1) for frame, out in zip(driving, result, strict=True))
    write_video(HERE / "demo.gif", panels, FPS, overwrite=True)
    print(f"wrote {HERE / 'demo.gif'}")


if __name__ == "__main__":
    if "--gif" in sys.argv[1:]:
        make_gif()
    else:
        make_inputs()
