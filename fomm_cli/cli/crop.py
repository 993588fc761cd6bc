"""`fomm crop`: parse flags, run the crop job (``fomm_cli.jobs.crop``), print what it cut."""

from __future__ import annotations

from pathlib import Path

import typer

from fomm_cli.face import (
    DEFAULT_CROP_SIZE,
    DEFAULT_INCREASE,
    DEFAULT_MIN_FACE,
    DEFAULT_MIN_FRAMES,
)

# The job's settings and the flags that set them, for error messages.
FLAGS = {
    "inputs": "INPUTS", "output_dir": "--output-dir", "size": "--size", "increase": "--increase",
    "min_frames": "--min-frames", "min_face": "--min-face", "face_backend": "--face-backend",
}  # fmt: skip


def crop(
    inputs: list[Path] = typer.Argument(..., help="Videos, folders of frames, or images."),
    output_dir: Path = typer.Option(..., "-o", "--output-dir", help="Folder for the crops (created if missing)."),
    size: int = typer.Option(DEFAULT_CROP_SIZE, "--size", help="Side of the square crops, in pixels."),
    increase: float = typer.Option(
        DEFAULT_INCREASE, "--increase", help="Margin around the face on each side, as a fraction of its size."
    ),
    min_frames: int = typer.Option(
        DEFAULT_MIN_FRAMES,
        "--min-frames",
        help="Skip face tracks shorter than this many frames (capped at half the video's length).",
    ),
    min_face: int = typer.Option(
        DEFAULT_MIN_FACE,
        "--min-face",
        help="Smallest face width to look for, in pixels of the input; larger is faster.",
    ),
    face_backend: str = typer.Option("auto", "--face-backend", help="auto, face-alignment or dlib."),
    device: str = typer.Option("auto", "--device", help="Device for face-alignment: auto, cpu, cuda, cuda:N."),
    print_commands: bool = typer.Option(
        False, "--print-commands", help="Print equivalent ffmpeg commands instead of writing the crops."
    ),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Replace existing crops."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Find faces and write one square clip per face track (videos) or one crop per face (images).

    Outputs are named INPUTSTEM-01.mp4, -02, ... (PNG for images), with the matching audio.
    """
    from fomm_cli.cli.common import note, print_json
    from fomm_cli.errors import FommError, InvalidSetting, MissingSetting, OutputExists, SettingsError
    from fomm_cli.jobs import crop as job
    from fomm_cli.reporting import ConsoleReporter

    try:
        options = job.Options(
            inputs=tuple(inputs), output_dir=output_dir, size=size, increase=increase, min_frames=min_frames,
            min_face=min_face, face_backend=face_backend, device=device, print_commands=print_commands,
            overwrite=overwrite,
        )  # fmt: skip
    except (InvalidSetting, MissingSetting) as err:
        flag = FLAGS.get(err.setting, err.setting)
        detail = f"must be {err.expected}, not {err.value!r}" if isinstance(err, InvalidSetting) else \
            f"is required: {err.reason}"
        raise SettingsError(f"{flag} {detail}") from err
    job.check(options)
    summary = job.run(options, ConsoleReporter(notes=not as_json))

    if as_json:
        print_json(summary.to_json())
    else:
        for result in summary.inputs:
            for clip in result.clips:
                if print_commands:
                    print(clip["command"])
                else:
                    when = "" if clip["start"] is None else f"  {clip['start']:.2f}-{clip['end']:.2f} s"
                    print(f"{clip['path']}  box={','.join(map(str, clip['box']))}{when}")
    if any(result.dropped_short and not result.clips for result in summary.inputs):
        note("lower --min-frames to keep short face tracks")
    failure = summary.failure()
    if isinstance(failure, OutputExists):
        raise FommError(f"{failure} (pass -y to overwrite)") from failure
    if failure is not None:
        raise failure
