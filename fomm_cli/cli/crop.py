"""`fomm crop`: cut square face clips out of videos (and face crops out of images) for face models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fomm_cli.errors import FommError, SettingsError
from fomm_cli.face import (
    BACKEND_NAMES,
    DEFAULT_CROP_SIZE,
    DEFAULT_DETECT_SIZE,
    DEFAULT_INCREASE,
    DEFAULT_MIN_FRAMES,
)

if TYPE_CHECKING:
    from fomm_cli.face.backends import FaceBackend


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
    detect_size: int = typer.Option(
        DEFAULT_DETECT_SIZE,
        "--detect-size",
        help="Longest side of the frames the face detector sees; raise it to find smaller faces (slower).",
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

    if size < 16:
        raise SettingsError(f"--size must be at least 16, not {size}")
    if increase < 0:
        raise SettingsError(f"--increase must be >= 0, not {increase}")
    if min_frames < 1:
        raise SettingsError(f"--min-frames must be >= 1, not {min_frames}")
    if detect_size < 64:
        raise SettingsError(f"--detect-size must be at least 64, not {detect_size}")
    if face_backend not in BACKEND_NAMES:
        raise SettingsError(f"--face-backend must be one of {', '.join(BACKEND_NAMES)}, not {face_backend!r}")
    for path in inputs:
        if not path.exists():
            raise SettingsError(f"input not found: {path}")
    if output_dir.exists() and not output_dir.is_dir():
        raise SettingsError(f"--output-dir {output_dir} is a file")
    output_dir.mkdir(parents=True, exist_ok=True)

    from fomm_cli.face.backends import get_backend

    backend = get_backend(face_backend, device)
    if not as_json:
        note(f"using face backend: {backend.name}")

    planned: set[Path] = set()
    entries = []
    produced = failed = 0
    for path in inputs:
        try:
            entry = _crop_one(
                path, output_dir, backend, planned, size=size, increase=increase, min_frames=min_frames,
                detect_size=detect_size, print_commands=print_commands, overwrite=overwrite, quiet=as_json,
            )  # fmt: skip
        except FommError as err:
            failed += 1
            entry = {"input": str(path), "clips": [], "error": str(err)}
            note(f"{path}: error: {err}")
        produced += len(entry["clips"])
        if entry.get("message"):
            note(f"{path}: {entry['message']}")
        if not as_json:
            for clip in entry["clips"]:
                if print_commands:
                    print(clip["command"])
                else:
                    when = "" if clip["start"] is None else f"  {clip['start']:.2f}-{clip['end']:.2f} s"
                    print(f"{clip['path']}  box={','.join(map(str, clip['box']))}{when}")
        entries.append(entry)

    if as_json:
        print_json({"face_backend": backend.name, "clips": produced, "inputs": entries})
    if produced == 0:
        raise FommError("no face crops produced" + ("" if failed else ": no usable face in any input"))
    if failed:
        raise FommError(f"{failed} of {len(inputs)} inputs failed")


def _crop_one(
    path: Path,
    output_dir: Path,
    backend: FaceBackend,
    planned: set[Path],
    *,
    size: int,
    increase: float,
    min_frames: int,
    detect_size: int,
    print_commands: bool,
    overwrite: bool,
    quiet: bool,
) -> dict[str, Any]:
    """Find and write (or spell as commands) the face crops of one input; returns its JSON entry."""
    from fomm_cli.face.clips import (
        ffmpeg_command,
        find_image_faces,
        find_video_faces,
        write_image_crops,
        write_video_clips,
    )
    from fomm_cli.media import is_image

    entry: dict[str, Any] = {"input": str(path)}
    if is_image(path):
        from fomm_cli.media.image import read_image

        image = read_image(path)
        clips = find_image_faces(image, backend, increase, detect_size)
        entry.update(type="image", width=int(image.shape[1]), height=int(image.shape[0]))
        suffix, message = ".png", "no face found"
    else:
        if print_commands and path.is_dir():
            raise FommError("--print-commands needs a video file, not a folder of frames")
        scan = find_video_faces(path, backend, increase, min_frames, detect_size, quiet)
        clips = scan.clips
        entry.update(type="video", frames=scan.num_frames, fps=scan.fps, dropped_short=scan.dropped)
        suffix, message = ".mp4", "no face found"
        if scan.dropped:
            message = (
                f"skipped {len(scan.dropped)} face track(s) shorter than {scan.min_frames} frames "
                f"(longest {max(scan.dropped)}); lower --min-frames to keep them"
            )
    outputs = [output_dir / f"{path.stem}-{k + 1:02d}{suffix}" for k in range(len(clips))]
    for output in outputs:
        if output in planned:
            raise FommError(f"{output} would be written twice (inputs share the name {path.stem!r})")
        if output.exists() and not overwrite and not print_commands:
            raise FommError(f"{output} exists (pass -y to overwrite)")
    planned.update(outputs)

    if not print_commands and clips:
        if entry["type"] == "image":
            write_image_crops(image, clips, outputs, size)
        else:
            write_video_clips(path, scan, outputs, size, overwrite=overwrite, quiet=quiet)
    entry["clips"] = []
    for clip, output in zip(clips, outputs, strict=True):
        summary = clip.summary(output)
        if print_commands:
            summary["command"] = ffmpeg_command(path, clip, output, size)
        entry["clips"].append(summary)
    entry["message"] = message if not clips or entry.get("dropped_short") else None
    return entry
