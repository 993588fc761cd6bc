"""`fomm crop` as a job: find the faces of videos and images and write one square clip (or crop) per face.

For each input, in order: detect (``fomm_cli.face.clips``), name the outputs ``STEM-01.mp4``, ``-02``, ...
(``.png`` for images), refuse names that exist (unless ``overwrite``) or that two inputs would share, then
write them (or, with ``print_commands``, only spell the equivalent ffmpeg commands). An input that fails
is reported as a warning and the job goes on with the next; ``Summary.failure()`` says afterwards
whether the run as a whole failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fomm_cli.devices import check_device_name
from fomm_cli.errors import (
    FommError,
    InputError,
    InputNotFound,
    InvalidSetting,
    MissingSetting,
    NoFaceFound,
    OutputExists,
    UnsafeOutput,
    one_of,
)
from fomm_cli.face import (
    BACKEND_NAMES,
    DEFAULT_CROP_SIZE,
    DEFAULT_INCREASE,
    DEFAULT_MIN_FACE,
    DEFAULT_MIN_FRAMES,
)
from fomm_cli.reporting import Reporter


@dataclass(frozen=True)
class Options:
    """inputs: videos, folders of frames or images. output_dir: created if missing. size: side of the square
    crops. increase: margin around each face, as a fraction of its size. min_frames: shortest face track
    kept (capped at half a video's length). min_face: smallest face width looked for, in input pixels.
    face_backend: auto, face-alignment or dlib; device: for face-alignment. print_commands: write nothing,
    return ffmpeg commands. overwrite: replace existing crops."""

    inputs: list[Path]
    output_dir: Path
    size: int = DEFAULT_CROP_SIZE
    increase: float = DEFAULT_INCREASE
    min_frames: int = DEFAULT_MIN_FRAMES
    min_face: int = DEFAULT_MIN_FACE
    face_backend: str = "auto"
    device: str = "auto"
    print_commands: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", [Path(p) for p in self.inputs])
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        if not self.inputs:
            raise MissingSetting("inputs", "at least one video, folder of frames or image")
        if self.size < 16:
            raise InvalidSetting("size", self.size, "at least 16")
        if not self.increase >= 0:
            raise InvalidSetting("increase", self.increase, ">= 0")
        if self.min_frames < 1:
            raise InvalidSetting("min_frames", self.min_frames, ">= 1")
        if not self.min_face >= 8:
            raise InvalidSetting("min_face", self.min_face, "at least 8 (pixels)")
        if self.face_backend not in BACKEND_NAMES:
            raise InvalidSetting("face_backend", self.face_backend, one_of(BACKEND_NAMES))
        check_device_name(self.device)


@dataclass
class InputResult:
    """What one input gave: ``kind`` "image" or "video" (None when it could not be read), its clips as JSON
    objects (box, start, end, frames, path, and command with ``print_commands``), image size or video
    frames/fps, the lengths of the face tracks dropped as too short, and the error that stopped it."""

    input: Path
    kind: str | None = None
    clips: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    dropped_short: list[int] = field(default_factory=list)
    min_frames: int | None = None
    error: FommError | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"input": str(self.input)}
        if self.kind is not None:
            entry["type"] = self.kind
        entry.update(self.details)
        if self.kind == "video":
            entry["dropped_short"] = self.dropped_short
        entry["clips"] = self.clips
        if self.error is not None:
            entry["error"] = str(self.error)
        else:
            entry["message"] = self.message()
        return entry

    def message(self) -> str | None:
        """What the user should know about this input beyond its clips (None: nothing)."""
        if self.dropped_short:
            return self.skipped_message()
        return None if self.clips else "no face found"

    def skipped_message(self) -> str:
        count = len(self.dropped_short)
        tracks = "face track" + ("s" if count > 1 else "")
        return (f"skipped {count} {tracks} shorter than {self.min_frames} frames "
                f"(longest {max(self.dropped_short)})")


@dataclass
class Summary:
    face_backend: str
    inputs: list[InputResult]

    @property
    def clips(self) -> int:
        return sum(len(result.clips) for result in self.inputs)

    def to_json(self) -> dict[str, Any]:
        return {"face_backend": self.face_backend, "clips": self.clips,
                "inputs": [result.to_json() for result in self.inputs]}

    def failure(self) -> FommError | None:
        """The error the run ends with: the first failed input's, else NoFaceFound when nothing was cut."""
        for result in self.inputs:
            if result.error is not None:
                return result.error
        return NoFaceFound("any input") if self.clips == 0 else None


def check(options: Options) -> None:
    """The checks that need no detector: inputs exist, the output folder is not a file."""
    for path in options.inputs:
        if not path.exists():
            raise InputNotFound(path, "input")
    if options.output_dir.exists() and not options.output_dir.is_dir():
        raise UnsafeOutput(options.output_dir, "it is a file, not a folder")


def run(options: Options, reporter: Reporter | None = None) -> Summary:
    """Crop every input in turn (see the module docstring); per-input problems become warnings."""
    from fomm_cli.face.backends import get_backend

    reporter = reporter or Reporter()
    check(options)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    backend = get_backend(options.face_backend, options.device, reporter=reporter)
    planned: set[Path] = set()
    results = []
    for path in options.inputs:
        result = InputResult(path)
        try:
            _crop_one(options, path, backend, planned, result, reporter)
        except FommError as err:
            result.error = err
            reporter.warn(f"{path}: {err}")
        else:
            if not result.clips:
                reporter.warn(f"{path}: {result.message()}")
            elif result.dropped_short:
                reporter.note(f"{path}: {result.skipped_message()}")
        results.append(result)
    return Summary(backend.name, results)


def _crop_one(
    options: Options, path: Path, backend: Any, planned: set[Path], result: InputResult, reporter: Reporter
) -> None:
    from fomm_cli.face.clips import (
        ffmpeg_command,
        find_image_faces,
        find_video_faces,
        write_image_crops,
        write_video_clips,
    )
    from fomm_cli.media import is_image

    if is_image(path):
        from fomm_cli.media.image import read_image

        image = read_image(path)
        clips = find_image_faces(image, backend, options.increase, options.min_face)
        result.kind, suffix = "image", ".png"
        result.details = {"width": int(image.shape[1]), "height": int(image.shape[0])}

        def write(outputs: list[Path]) -> None:
            write_image_crops(image, clips, outputs, options.size)
    else:
        if options.print_commands and path.is_dir():
            raise InputError(path, "is a folder of frames: ffmpeg commands need a video file")
        scan = find_video_faces(path, backend, options.increase, options.min_frames, options.min_face, reporter)
        clips = scan.clips
        result.kind, suffix = "video", ".mp4"
        result.details = {"frames": scan.num_frames, "fps": scan.fps}
        result.dropped_short, result.min_frames = scan.dropped, scan.min_frames

        def write(outputs: list[Path]) -> None:
            write_video_clips(path, scan, outputs, options.size, overwrite=options.overwrite, reporter=reporter)

    outputs = [options.output_dir / f"{path.stem}-{k + 1:02d}{suffix}" for k in range(len(clips))]
    for output in outputs:
        if output in planned:
            raise UnsafeOutput(output, f"another input is also named {path.stem!r}")
        if output.exists() and not options.overwrite and not options.print_commands:
            raise OutputExists(output)
    planned.update(outputs)

    if not options.print_commands and clips:
        write(outputs)
    for clip, output in zip(clips, outputs, strict=True):
        summary = clip.summary(output)
        if options.print_commands:
            summary["command"] = ffmpeg_command(path, clip, output, options.size)
        result.clips.append(summary)
