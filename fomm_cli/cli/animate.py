"""`fomm animate`: flags -> ``jobs.animate.Options`` -> run -> one line (or JSON)."""

from __future__ import annotations

import sys

from fomm_cli.cli.common import JSON_FLAG, MODEL_FLAGS, finish
from fomm_cli.cli.options import Flag, command
from fomm_cli.jobs.animate import Options
from fomm_cli.media.timing import parse_time


def _face(text: str) -> str | int:
    """--face's value: all, largest or a face number (the job checks the number against the faces found)."""
    from fomm_cli.errors import InvalidSetting
    from fomm_cli.face import parse_face_choice

    try:
        return parse_face_choice(text)
    except InvalidSetting as err:
        raise ValueError(err.expected) from None


FLAGS = {
    "source": Flag((), "Source image (png, jpg, webp; RGBA, grayscale, 16-bit)."),
    "driving": Flag((), "Driving video (mp4, mov, webm, mkv, avi, gif), a folder of frames, or - for standard "
                        "input."),
    "output": Flag(("-o", "--output"), "Output .mp4/.mov/.mkv, .gif, .y4m, a folder for PNG frames, or - for "
                                       "standard output (then --json goes to stderr)."),
    **MODEL_FLAGS,
    "domain": Flag(("--domain",), "What the model animates (face, body, ...), for checkpoints the registry "
                                  "does not know: face models crop the source's face."),
    "relative": Flag(("--relative/--absolute",), "Relative motion (default) or copy the driving keypoints."),
    "adapt_scale": Flag(("--adapt-scale/--no-adapt-scale",), "Scale the motion by the keypoint hull sizes."),
    "avd": Flag(("--avd",), "Re-pose the source keypoints with the model's animation-via-disentanglement "
                            "network (TPSMM models that have one) instead of relative or absolute motion."),
    "motion_scale": Flag(("--motion-scale",), "Strength of the motion: 1 as driven, 0 none (the source as it is), "
                                              "up to 10 to exaggerate.", metavar="F"),
    "smooth": Flag(("--smooth",), "Calm jittery driving keypoints (a causal One Euro filter; off by default)."),
    "smooth_strength": Flag(("--smooth-strength",), "How hard --smooth filters: its time constant in frames "
                                                    "for still keypoints (fast motion is followed closely).",
                            metavar="FRAMES"),
    "best_frame": Flag(("--best-frame",), "Animate forward and backward from driving frame N.", metavar="N"),
    "find_best_frame": Flag(("--find-best-frame",),
                            "Start from the driving frame whose face pose best matches the source."),
    "start": Flag(("--start",), "Animate from here: seconds (12.5, 1:02) or a frame number (120f).",
                  parse=lambda text: parse_time(text, "start"), metavar="TIME"),
    "end": Flag(("--end",), "Animate up to here (same forms as --start); audio is cut to match.",
                parse=lambda text: parse_time(text, "end"), metavar="TIME"),
    "fps": Flag(("--fps",), "Frame rate to read the driving video at (frames picked by timestamp), or of a "
                            "frames folder (default 25).", metavar="RATE"),
    "crop": Flag(("--crop/--no-crop",), "Crop the source to its face (default: on for face models).",
                 default=None),
    "face": Flag(("--face",), "Faces to animate when cropping: largest, all, or N (the Nth from the left, from 1).",
                 parse=_face, metavar="all|largest|N"),
    "paste_back": Flag(("--paste-back/--no-paste-back",), "Paste the animated crop back into the full source."),
    "crop_driving": Flag(("--crop-driving",), "Crop the driving video to its tracked face."),
    "increase": Flag(("--increase",), "Margin around the face on each side, as a fraction of the face size."),
    "face_backend": Flag(("--face-backend",), "auto, face-alignment or dlib."),
    "fit": Flag(("--fit",), "Inputs of another shape: crop (centre), pad or stretch."),
    "side_by_side": Flag(("--side-by-side",), "Write source | driving | result."),
    "audio": Flag(("--audio/--no-audio",), "Copy the driving video's audio."),
    "format": Flag(("--format",), "Output format when the path does not say: mkv (default for -o -), mp4 "
                                  "(fragmented on pipes), mov, gif, y4m, frames."),
    "device": Flag(("--device",), "auto, cpu, cuda, cuda:N or mps."),
    "batch_size": Flag(("--batch-size",), "Driving frames per forward pass."),
    "precision": Flag(("--precision",), "fp32 (exact), bf16 or fp16 (CUDA)."),
    "crf": Flag(("--crf",), "H.264 quality, 0-51 (lower is better; 18 is visually lossless)."),
    "overwrite": Flag(("-y", "--overwrite"), "Replace an existing output (a file, or a frames folder fomm wrote)."),
}


def _animate(options: Options, as_json: bool) -> None:
    """Animate SOURCE with the motion of DRIVING (relative motion with adapted scale by default)."""
    from fomm_cli.jobs.animate import check, run

    check(options)  # paths and output before torch loads
    to_stdout = str(options.output) == "-"
    finish(run, options, as_json, lambda s: f"wrote {s.output}: {s.frames} frames in {s.seconds:.1f} s "
                                            f"({s.fps} frames/s)", json_stream=sys.stderr if to_stdout else None)


animate = command(Options, FLAGS, _animate, extra=JSON_FLAG)
