"""`fomm eval`: flags -> ``jobs.evaluate.Options`` -> run -> a table, JSON or CSV."""

from __future__ import annotations

import sys
from typing import Any

import typer

from fomm_cli.cli.common import MODEL_FLAGS, print_json
from fomm_cli.cli.options import Flag, command
from fomm_cli.jobs.evaluate import Options
from fomm_cli.reporting import ConsoleReporter


def _frame_shape(text: str) -> tuple[int, int]:
    height, sep, width = text.lower().replace(",", "x").partition("x")
    if not (sep and height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0):
        raise ValueError("HEIGHTxWIDTH, two positive sizes such as 256x256")
    return int(height), int(width)


FLAGS = {
    "dataset": Flag((), "Test folder: video files (mp4, gif, mov...), folders of frames or PNG strips; a dataset "
                        "root with train/ and test/ means its test/.", default=None),
    **MODEL_FLAGS,
    "real": Flag(("--real",), "Score without a model: the folder of real videos..."),
    "generated": Flag(("--generated",), "...and of generated ones, matched by name, frames by index."),
    "baseline": Flag(("--baseline",), "Score the no-motion baseline instead of a model: every frame predicted by "
                                      "the video's first frame."),
    "kind": Flag(("--kind",), "face or body: picks the keypoint and identity extractors (default: the model's "
                              "domain, else face)."),
    "save": Flag(("--save",), "Keep the reconstructions: a folder with one folder of lossless PNG frames per "
                              "video."),
    "frame_shape": Flag(("--frame-shape",), "HEIGHTxWIDTH of the frames in PNG strips (default: square, as tall "
                                            "as the strip).", parse=_frame_shape),
    "face_backend": Flag(("--face-backend",), "auto, face-alignment or dlib."),
    "device": Flag(("--device",), "auto, cpu, cuda, cuda:N or mps."),
    "batch_size": Flag(("--batch-size",), "Frames per forward pass."),
    "overwrite": Flag(("-y", "--overwrite"), "Replace an existing --save folder."),
}

OUTPUT_FLAGS: dict[str, tuple[type, Any]] = {
    "as_json": (bool, typer.Option(False, "--json", help="Print a JSON object on stdout instead of the table.")),
    "as_csv": (bool, typer.Option(False, "--csv", help="Print CSV (one row per video, then overall) on stdout.")),
}


def _evaluate(options: Options, as_json: bool, as_csv: bool) -> None:
    """Reconstruct every test video from its first frame and score it against the real one.

    L1 (pixels), AKD (keypoint distance), MKR (missing body joints) and AED (identity distance), defined and
    averaged as in the authors' evaluation scripts. With --real/--generated, score existing videos instead;
    with --baseline, the repeated first frame (the floor a model must beat).
    """
    from fomm_cli.errors import ConflictingSettings
    from fomm_cli.jobs.evaluate import check, run

    if as_json and as_csv:
        raise ConflictingSettings(("--json", "--csv"), "choose one output format")
    check(options)
    summary = run(options, ConsoleReporter(notes=not (as_json or as_csv)))
    from fomm_cli.evaluate.report import print_table, to_csv

    if as_json:
        print_json(summary.to_json())
    elif as_csv:
        sys.stdout.write(to_csv(summary.report))
    else:
        print_table(summary.report)
        if options.save is not None:
            print(f"wrote {len(summary.report.videos)} reconstructions to {options.save}", file=sys.stderr)


evaluate = command(Options, FLAGS, _evaluate, extra=OUTPUT_FLAGS)
