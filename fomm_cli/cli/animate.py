"""`fomm animate`: flags -> ``jobs.animate.Options`` -> run -> one line (or JSON)."""

from __future__ import annotations

from fomm_cli.cli.common import JSON_FLAG, MODEL_FLAGS, finish
from fomm_cli.cli.options import Flag, command
from fomm_cli.jobs.animate import Options

FLAGS = {
    "source": Flag((), "Source image (png, jpg, webp; RGBA, grayscale, 16-bit)."),
    "driving": Flag((), "Driving video (mp4, mov, webm, mkv, avi, gif) or a folder of frames."),
    "output": Flag(("-o", "--output"), "Output .mp4/.mov/.mkv, .gif, or a folder for PNG frames."),
    **MODEL_FLAGS,
    "domain": Flag(("--domain",), "What the model animates (face, body, ...), for checkpoints the registry "
                                  "does not know: face models crop the source's face."),
    "relative": Flag(("--relative/--absolute",), "Relative motion (default) or copy the driving keypoints."),
    "adapt_scale": Flag(("--adapt-scale/--no-adapt-scale",), "Scale the motion by the keypoint hull sizes."),
    "best_frame": Flag(("--best-frame",), "Animate forward and backward from driving frame N.", metavar="N"),
    "find_best_frame": Flag(("--find-best-frame",),
                            "Start from the driving frame whose face pose best matches the source."),
    "crop": Flag(("--crop/--no-crop",), "Crop the source to its face (default: on for face models).",
                 default=None),
    "paste_back": Flag(("--paste-back/--no-paste-back",), "Paste the animated crop back into the full source."),
    "crop_driving": Flag(("--crop-driving",), "Crop the driving video to its tracked face."),
    "increase": Flag(("--increase",), "Margin around the face on each side, as a fraction of the face size."),
    "face_backend": Flag(("--face-backend",), "auto, face-alignment or dlib."),
    "fit": Flag(("--fit",), "Inputs of another shape: crop (centre), pad or stretch."),
    "side_by_side": Flag(("--side-by-side",), "Write source | driving | result."),
    "audio": Flag(("--audio/--no-audio",), "Copy the driving video's audio."),
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
    finish(run, options, as_json, lambda s: f"wrote {s.output}: {s.frames} frames in {s.seconds:.1f} s "
                                            f"({s.fps} frames/s)")


animate = command(Options, FLAGS, _animate, extra=JSON_FLAG)
