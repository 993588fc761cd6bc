"""`fomm data`: make datasets (procedural cartoon faces, to smoke-test training or train the demo model)."""

from __future__ import annotations

import typer

from fomm_cli.cli.common import JSON_FLAG, finish
from fomm_cli.cli.options import Flag, command
from fomm_cli.jobs.synth import Options

app = typer.Typer(help="Datasets: make synthetic data.", no_args_is_help=True, rich_markup_mode=None)

FLAGS = {
    "out": Flag((), "Output folder; gets train/, test/ and the manifest synth.json."),
    "videos": Flag(("--videos",), "Number of training videos."),
    "test_videos": Flag(("--test-videos",), "Number of test videos (unseen identities)."),
    "frames": Flag(("--frames",), "Frames per video."),
    "size": Flag(("--size",), "Frame width and height in pixels (16 to 2048)."),
    "seed": Flag(("--seed",), "Dataset seed: same seed, same bytes."),
    "format": Flag(("--format",), "png: a folder of frames per video; mp4: one H.264 file per video."),
    "clips_per_id": Flag(("--clips-per-id",), "Clips per identity (same look, different motion; for id sampling)."),
    "fps": Flag(("--fps",), "Frame rate written into mp4 files and the manifest."),
    "overwrite": Flag(("-y", "--overwrite"), "Replace OUT if it exists and is not empty."),
}


@app.callback()
def _group() -> None:
    # A callback keeps `synth` a named subcommand while it is the group's only command.
    pass


def _synth(options: Options, as_json: bool) -> None:
    """Render cartoon faces that turn, tilt, nod, blink and talk, over static backgrounds.

    Videos are named id{identity}#{clip}; train and test identities never overlap.

    Every video can be rebuilt from synth.json: fomm_cli.synth.render_video(identity_seed, frames, size, clip).
    """
    from fomm_cli.jobs.synth import check, run

    check(options)
    finish(run, options, as_json, lambda s: (
        f"wrote {s.dataset.train_videos} train and {s.dataset.test_videos} test videos ({s.dataset.train_identities}"
        f" + {s.dataset.test_identities} identities, {s.dataset.frames} frames, {s.dataset.size}x{s.dataset.size} "
        f"{s.dataset.format}) to {s.dataset.root} in {s.dataset.seconds:.1f} s"))


app.command("synth", no_args_is_help=True)(command(Options, FLAGS, _synth, extra=JSON_FLAG))
