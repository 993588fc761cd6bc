"""Regenerate the example inputs from held-out synthetic identities (never used for training).

    python examples/make_examples.py

writes examples/source.png (identity A, one still) and examples/driving.mp4 (identity B talking and turning,
96 frames at 25 fps), both 64x64 like the demo model. The demo model was trained on `fomm data synth`
seed 0, whose train and test identities use the "train" and "test" seed splits; these use "heldout".
"""

from __future__ import annotations

from pathlib import Path

from fomm_cli.media.image import write_image
from fomm_cli.media.video import write_video
from fomm_cli.synth import identity_seed, render_video

HERE = Path(__file__).resolve().parent
SIZE = 64


def main() -> None:
    source_identity = identity_seed(0, "heldout", 0)
    driving_identity = identity_seed(0, "heldout", 2)
    write_image(HERE / "source.png", render_video(source_identity, 1, SIZE)[0])
    write_video(HERE / "driving.mp4", render_video(driving_identity, 96, SIZE, clip=2), 25, overwrite=True)
    print(f"source identity seed {source_identity}, driving identity seed {driving_identity}")


if __name__ == "__main__":
    main()
