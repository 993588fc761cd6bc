"""`fomm animate`: parse flags, load the model, run the job, report."""

from __future__ import annotations

from pathlib import Path

import typer

from fomm_cli.cli.common import (
    checkpoint_option,
    config_option,
    device_option,
    model_option,
    note,
    print_json,
    trust_option,
)
from fomm_cli.face import DEFAULT_INCREASE


def animate(
    source: Path = typer.Argument(..., help="Source image (png, jpg, webp; RGBA, grayscale, 16-bit)."),
    driving: Path = typer.Argument(..., help="Driving video (mp4, mov, webm, mkv, avi, gif) or a folder of frames."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .mp4/.mov/.mkv, .gif, or a folder for PNG frames."),
    model: str | None = model_option(),
    checkpoint: Path | None = checkpoint_option(),
    config: str | None = config_option(),
    trust_checkpoint: bool = trust_option(),
    absolute: bool = typer.Option(False, "--absolute", help="Copy driving keypoints instead of relative motion."),
    no_adapt_scale: bool = typer.Option(False, "--no-adapt-scale", help="Do not scale motion by keypoint hull size."),
    best_frame: int | None = typer.Option(None, "--best-frame", help="Animate forward and backward from frame N."),
    find_best_frame: bool = typer.Option(False, "--find-best-frame",
                                         help="Start from the driving frame whose face pose best matches the source."),
    crop: bool | None = typer.Option(None, "--crop/--no-crop",
                                     help="Crop the source to its face (default: on for face models)."),
    paste_back: bool = typer.Option(True, "--paste-back/--no-paste-back",
                                    help="Paste the animated crop back into the full-size source."),
    crop_driving: bool = typer.Option(False, "--crop-driving", help="Crop the driving video to its tracked face."),
    increase: float = typer.Option(DEFAULT_INCREASE, "--increase",
                                   help="Margin around the face on each side, as a fraction of the face size."),
    face_backend: str = typer.Option("auto", "--face-backend", help="auto, face-alignment or dlib."),
    fit: str = typer.Option("crop", "--fit", help="Non-square inputs: crop (centre), pad or stretch."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write source | driving | result."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Do not copy the driving video's audio."),
    device: str = device_option(),
    batch_size: int = typer.Option(8, "--batch-size", help="Driving frames per forward pass."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (exact), bf16 or fp16 (CUDA)."),
    crf: int = typer.Option(18, "--crf", help="H.264 quality (lower is better; 18 is visually lossless)."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Animate SOURCE with the motion of DRIVING (relative motion with adapted scale by default)."""
    from fomm_cli.animate_job import AnimateOptions, check_paths, run_animation
    from fomm_cli.errors import SettingsError
    from fomm_cli.pretrained import load_model

    if fit not in ("crop", "pad", "stretch"):
        raise SettingsError(f"--fit must be crop, pad or stretch, not {fit!r}")
    if increase < 0:
        raise SettingsError("--increase must be >= 0")
    options = AnimateOptions(
        source=source, driving=driving, output=output, relative=not absolute, adapt_scale=not no_adapt_scale,
        best_frame=best_frame, find_best_frame=find_best_frame, paste_back=paste_back, crop_driving=crop_driving,
        increase=increase, face_backend=face_backend, fit=fit, side_by_side=side_by_side, audio=not no_audio,
        device=device, batch_size=batch_size, precision=precision, overwrite=overwrite, quiet=as_json, crf=crf,
    )
    check_paths(options)
    loaded, origin = load_model(model, checkpoint=checkpoint, config=config, trust=trust_checkpoint, quiet=as_json)
    options.crop = crop if crop is not None else origin.domain == "face"
    summary = run_animation(loaded, options, origin.name or str(origin.path))
    for line in options.notes:
        note(line, quiet=as_json)
    if as_json:
        print_json(summary)
    else:
        note(f"wrote {summary['output']}: {summary['frames']} frames in {summary['seconds']:.1f} s "
             f"({summary['fps']} frames/s)")
