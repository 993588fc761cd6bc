"""`fomm crop`: flags -> ``jobs.crop.Options`` -> run -> one line per clip (or JSON)."""

from __future__ import annotations

from fomm_cli.cli.common import JSON_FLAG
from fomm_cli.cli.options import Flag, command
from fomm_cli.jobs.crop import Options

FLAGS = {
    "inputs": Flag((), "Videos, folders of frames, or images.", metavar="INPUT"),
    "output_dir": Flag(("-o", "--output-dir"), "Folder for the crops (created if missing)."),
    "size": Flag(("--size",), "Side of the square crops, in pixels."),
    "increase": Flag(("--increase",), "Margin around the face on each side, as a fraction of its size."),
    "min_frames": Flag(("--min-frames",),
                       "Skip face tracks shorter than this many frames (capped at half the video's length)."),
    "min_face": Flag(("--min-face",), "Smallest face width to look for, in pixels of the input; larger is faster."),
    "face_backend": Flag(("--face-backend",), "auto, face-alignment or dlib."),
    "device": Flag(("--device",), "Device for face-alignment: auto, cpu, cuda, cuda:N."),
    "print_commands": Flag(("--print-commands",), "Print equivalent ffmpeg commands instead of writing the crops."),
    "overwrite": Flag(("-y", "--overwrite"), "Replace existing crops."),
}


def _crop(options: Options, as_json: bool) -> None:
    """Find faces and write one square clip per face track (videos) or one crop per face (images).

    Outputs are named INPUTSTEM-01.mp4, -02, ... (PNG for images), with the matching audio.
    """
    from fomm_cli.cli.common import note, print_json
    from fomm_cli.jobs.crop import check, run
    from fomm_cli.reporting import ConsoleReporter

    check(options)
    summary = run(options, ConsoleReporter(notes=not as_json))
    if as_json:
        print_json(summary.to_json())
    else:
        for result in summary.inputs:
            for clip in result.clips:
                if options.print_commands:
                    print(clip["command"])
                else:
                    when = "" if clip["start"] is None else f"  {clip['start']:.2f}-{clip['end']:.2f} s"
                    print(f"{clip['path']}  box={','.join(map(str, clip['box']))}{when}")
    if any(result.dropped_short and not result.clips for result in summary.inputs):
        note("lower --min-frames to keep short face tracks")
    failure = summary.failure()
    if failure is not None:
        raise failure


crop = command(Options, FLAGS, _crop, extra=JSON_FLAG)
