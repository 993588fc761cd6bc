"""`fomm data`: make datasets (procedural cartoon faces, to smoke-test training or train the demo model)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from fomm_cli.cli.common import print_json

app = typer.Typer(help="Datasets: make synthetic data.", no_args_is_help=True, rich_markup_mode=None)


class VideoFormat(str, Enum):
    png = "png"
    mp4 = "mp4"


@app.callback()
def _group() -> None:
    # A callback keeps `synth` a named subcommand while it is the group's only command.
    pass


@app.command("synth", no_args_is_help=True)
def synth(
    out: Path = typer.Argument(..., help="Output folder; gets train/, test/ and the manifest synth.json."),
    videos: int = typer.Option(200, "--videos", help="Number of training videos."),
    test_videos: int = typer.Option(20, "--test-videos", help="Number of test videos (unseen identities)."),
    frames: int = typer.Option(64, "--frames", help="Frames per video."),
    size: int = typer.Option(64, "--size", help="Frame width and height in pixels (16 to 2048)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed: same seed, same bytes."),
    fmt: VideoFormat = typer.Option(VideoFormat.png, "--format", help="png: a folder of frames per video; "
                                    "mp4: one H.264 file per video."),
    clips_per_id: int = typer.Option(4, "--clips-per-id",
                                     help="Clips per identity (same look, different motion; for id sampling)."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate written into mp4 files and the manifest."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Replace OUT if it exists and is not empty."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary (and no progress bar)."),
) -> None:
    """Render cartoon faces that turn, tilt, nod, blink and talk, over static backgrounds.

    Videos are named id{identity}#{clip}; train and test identities never overlap.

    Every video can be rebuilt from synth.json: fomm_cli.synth.render_video(identity_seed, frames, size, clip).
    """
    from fomm_cli.jobs import synth as job
    from fomm_cli.reporting import ConsoleReporter

    options = job.Options(out, videos, test_videos, frames, size, seed, fmt.value, clips_per_id, fps, overwrite)
    job.check(options)
    summary = job.run(options, ConsoleReporter(notes=not as_json))
    if as_json:
        print_json(summary.to_json())
    else:
        d = summary.dataset
        print(f"Wrote {d.train_videos} train and {d.test_videos} test videos ({d.train_identities} + "
              f"{d.test_identities} identities, {d.frames} frames, {d.size}x{d.size} {d.format}) to {d.root} "
              f"in {d.seconds:.1f} s")
