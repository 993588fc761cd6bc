"""`fomm animate`: files in, one video (or GIF, y4m, or PNG folder) out; "-" reads stdin / writes stdout.

Reads the source, optionally crops its faces (the largest, one chosen, or all of them), streams the driving
video (or a segment of it, at its own constant rate or at ``fps``) through the ``Animator`` (decoding on a
background thread; every face animated by the same driving keypoints), optionally pastes each result back
into the full-resolution source, and encodes as it goes. Nothing is written at ``output`` until the last
frame is encoded.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fomm_cli import __version__
from fomm_cli.controls import DEFAULT_STRENGTH, check_motion_scale, check_strength
from fomm_cli.devices import PRECISIONS, check_device_name
from fomm_cli.errors import ConflictingSettings, InputError, InputNotFound, InvalidSetting, NoFaceFound, one_of
from fomm_cli.face import BACKEND_NAMES, DEFAULT_INCREASE, FaceChoice, parse_face_choice
from fomm_cli.media import is_image
from fomm_cli.media.outputs import OutputTarget, check_output
from fomm_cli.media.timing import TimePoint, check_segment, parse_fps
from fomm_cli.reporting import Reporter

if TYPE_CHECKING:
    import numpy as np

FITS = ("crop", "pad", "stretch")
DOMAINS = ("face", "body", "robot", "cartoon", "synthetic", "other")
STDIN = "-"


@dataclass(frozen=True)
class Options:
    """Settings of one animation. ``crop`` None: crop the source's face when the model is a face model.
    ``start``/``end``: a segment of the driving video; ``fps``: the rate to read it at (default its own).
    ``smooth``: filter the driving keypoints in time with ``smooth_strength``; ``motion_scale``: weaken (< 1)
    or exaggerate (> 1) the motion. ``format``: the output format when the path does not say it.
    ``face``: which faces of the source are cropped and animated: "largest", "all" or a face number counted
    left to right from 1 (``fomm_cli.face.parse_face_choice``)."""

    source: Path
    driving: Path
    output: Path
    model: str | None = None
    checkpoint: Path | None = None
    config: str | None = None
    trust_checkpoint: bool = False
    domain: str | None = None
    relative: bool = True
    adapt_scale: bool = True
    avd: bool = False  # TPSMM models with an AVD network: it re-poses the source keypoints instead
    motion_scale: float = 1.0
    smooth: bool = False
    smooth_strength: float = DEFAULT_STRENGTH
    best_frame: int | None = None
    find_best_frame: bool = False
    start: TimePoint | None = None
    end: TimePoint | None = None
    fps: float | None = None
    crop: bool | None = None
    face: FaceChoice = "largest"
    paste_back: bool = True
    crop_driving: bool = False
    increase: float = DEFAULT_INCREASE
    face_backend: str = "auto"
    fit: str = "crop"
    side_by_side: bool = False
    audio: bool = True
    format: str | None = None
    device: str = "auto"
    batch_size: int = 8
    precision: str = "fp32"
    crf: int = 18
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.model is not None and self.checkpoint is not None:
            raise ConflictingSettings(("model", "checkpoint"), "give one, not both")
        if self.domain is not None and self.domain not in DOMAINS:
            raise InvalidSetting("domain", self.domain, one_of(DOMAINS))
        if self.avd and not self.relative:
            raise ConflictingSettings(("avd", "relative"), "AVD replaces relative and absolute transfer")
        check_motion_scale(self.motion_scale)
        if check_strength(self.smooth_strength) == 0:
            raise InvalidSetting("smooth_strength", self.smooth_strength, "a number of frames > 0")
        if self.best_frame is not None and self.find_best_frame:
            raise ConflictingSettings(("best_frame", "find_best_frame"), "they exclude each other")
        if self.best_frame is not None and self.best_frame < 0:
            raise InvalidSetting("best_frame", self.best_frame, "a frame number >= 0")
        if self.fps is not None:
            parse_fps(self.fps)
        check_segment(self.start, self.end, self.fps)
        object.__setattr__(self, "face", parse_face_choice(self.face))
        if not (math.isfinite(self.increase) and 0 <= self.increase <= 10):
            raise InvalidSetting("increase", self.increase, "a finite margin from 0 to 10 (times the face size)")
        if self.face_backend not in BACKEND_NAMES:
            raise InvalidSetting("face_backend", self.face_backend, one_of(BACKEND_NAMES))
        if self.fit not in FITS:
            raise InvalidSetting("fit", self.fit, one_of(FITS))
        check_device_name(self.device)
        if self.batch_size < 1:
            raise InvalidSetting("batch_size", self.batch_size, "at least 1")
        if self.precision not in PRECISIONS:
            raise InvalidSetting("precision", self.precision, one_of(PRECISIONS))
        if not 0 <= self.crf <= 51:
            raise InvalidSetting("crf", self.crf, "an H.264 quality from 0 to 51")


@dataclass
class Summary:
    """What one animation did (the ``--json`` object). ``fps`` is the processing speed; ``video_fps`` the
    output's frame rate (``fps_from``: "stream", "setting" or "default")."""

    output: str
    frames: int
    seconds: float
    fps: float | None
    time_to_first_frame: float
    video_fps: float
    fps_from: str
    start: float
    size: list[int]
    model: str
    domain: str | None
    domain_from: str
    device: str
    precision: str
    relative: bool
    adapt_scale: bool
    movement_scale: float
    motion_scale: float
    smoothing: float | None
    audio: bool
    avd: bool = False
    face_backend: str | None = None
    crop_box: list[float] | None = None
    faces: list[dict[str, Any]] | None = None
    best_frame: int | None = None
    warnings: list[str] = field(default_factory=list)
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items()
                if value is not None or key in ("fps", "domain", "smoothing")}


def check(options: Options) -> OutputTarget:
    """Every check that needs no model: inputs exist and have the right kind, the output can be written."""
    if not options.source.is_file():
        raise InputNotFound(options.source, "source image")
    if not is_image(options.source):
        raise InputError(options.source, "the source must be an image (png, jpg, webp, ...)")
    if str(options.driving) != STDIN and not options.driving.exists():
        raise InputNotFound(options.driving, "driving video")
    if options.checkpoint is not None and not options.checkpoint.exists():
        raise InputNotFound(options.checkpoint, "checkpoint")
    inputs = [p for p in (options.source, options.driving, options.checkpoint) if p is not None]
    return check_output(options.output, options.format, options.overwrite, inputs)


def _nth(frames: Iterator[np.ndarray], index: int) -> np.ndarray:
    frame = next(itertools.islice(frames, index, None), None)
    if frame is None:
        raise InvalidSetting("best_frame", index, "a frame of the driving video (it has fewer)")
    return frame


def _side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    from fomm_cli.media.image import resize

    height = panels[-1].shape[0]
    scaled = [p if p.shape[0] == height else resize(p, (height, round(p.shape[1] * height / p.shape[0])))
              for p in panels]
    return np.concatenate(scaled, axis=1)


def run(options: Options, reporter: Reporter | None = None) -> Summary:
    """Animate ``options.source`` with ``options.driving`` into ``options.output``."""
    reporter = reporter or Reporter()
    check(options)

    from fomm_cli.animate import Animator, prefetch
    from fomm_cli.devices import resolve_device
    from fomm_cli.media.image import fit, read_image
    from fomm_cli.media.reader import VideoSource
    from fomm_cli.media.writer import VideoWriter
    from fomm_cli.pretrained import load_pretrained

    loaded = load_pretrained(options.model, checkpoint=options.checkpoint, config=options.config,
                             trust=options.trust_checkpoint, domain=options.domain, reporter=reporter)
    size = (int(loaded.model.config.image_size[0]), int(loaded.model.config.image_size[1]))
    device = resolve_device(options.device)
    smoothing = options.smooth_strength if options.smooth else None
    animator = Animator(loaded.model, device, relative=options.relative, adapt_scale=options.adapt_scale,
                        avd=options.avd, batch_size=options.batch_size, precision=options.precision,
                        smoothing=smoothing, motion_scale=options.motion_scale)
    crop = options.crop if options.crop is not None else loaded.domain == "face"
    full_source = read_image(options.source)
    second_pass = options.find_best_frame or options.best_frame is not None or options.crop_driving

    with VideoSource(options.driving, start=options.start, end=options.end, fps=options.fps,
                     rereadable=second_pass, want_audio=options.audio, reporter=reporter) as video:
        info = video.info
        backend = None
        if crop or options.crop_driving or options.find_best_frame:
            from fomm_cli.face.backends import get_backend

            backend = get_backend(options.face_backend, device=device.type, reporter=reporter)

        crops = []
        if crop:
            from fomm_cli.face.select import crop_faces, describe_choice

            assert backend is not None
            found = backend.detect(full_source)
            reporter.note(describe_choice(len(found), options.face))
            crops = crop_faces(full_source, found, options.face, size, options.increase)
            if len(crops) > 1 and not options.paste_back:
                raise ConflictingSettings(("face", "paste_back"), "several faces are only shown pasted back into "
                                                                  "the source")
            source = crops[0].crop
        else:
            if options.face != "largest":
                raise ConflictingSettings(("face", "crop"), "choosing faces needs the source cropped to them")
            if full_source.shape[:2] != size:
                reporter.note(f"source {full_source.shape[1]}x{full_source.shape[0]} resized to "
                              f"{size[1]}x{size[0]} ({options.fit})")
            source = fit(full_source, size, options.fit)

        driving_frames: Callable[[], Iterator[np.ndarray]]
        if options.crop_driving:
            from fomm_cli.face.source import DrivingCropper

            assert backend is not None
            cropper = DrivingCropper(video.frames, backend, size, options.increase, reporter=reporter)
            driving_frames = cropper.__iter__
        else:
            if (info.width, info.height) != (size[1], size[0]):
                reporter.note(f"driving {info.width}x{info.height} resized to {size[1]}x{size[0]} ({options.fit})")
            driving_frames = lambda: (fit(frame, size, options.fit) for frame in video.frames())  # noqa: E731

        reference_index = options.best_frame
        if options.find_best_frame:
            from fomm_cli.face.best_frame import find_best_frame

            assert backend is not None
            # Landmarks are normalised for position and scale, so search at full resolution, where detection
            # works best (a 64 px demo model's frames are too small for a face detector).
            candidates = driving_frames() if options.crop_driving else video.frames()
            reference_index, _ = find_best_frame(full_source, candidates, backend)
            if reference_index is None:
                raise NoFaceFound("the source image or any driving frame")
            reporter.note(f"best frame: {reference_index}")

        frames = prefetch(driving_frames())
        first = next(frames, None)
        if first is None:
            raise InputError(options.driving, "the driving video has no frames")
        reference = first if reference_index is None else _nth(driving_frames(), reference_index)
        animation = animator.start([c.crop for c in crops] or [source], reference)

        paste = crop and options.paste_back
        compositor = None
        if paste:
            from fomm_cli.face.composite import Compositor

            # One canvas for the whole video: each frame touches only the faces' boxes.
            compositor = Compositor(full_source, [c.box for c in crops], [c.centre for c in crops])

        audio = video.audio if options.audio else None
        pending: deque[np.ndarray] = deque()

        def remembered(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for frame in frames:
                if options.side_by_side:
                    pending.append(frame)
                yield frame

        started = time.perf_counter()
        first_frame_at = None
        with VideoWriter(options.output, info.fps, audio_from=audio.path if audio else None,
                         audio_start=audio.start if audio else 0.0, audio_duration=audio.duration if audio else None,
                         overwrite=options.overwrite, crf=options.crf, format=options.format,
                         inputs=[options.source, options.driving, options.checkpoint]) as writer, \
                reporter.progress("animating", info.num_frames) as bar:
            for results in animation.frames(remembered(itertools.chain([first], frames))):
                if first_frame_at is None:
                    first_frame_at = time.perf_counter() - started
                frame = compositor.paste(results) if compositor is not None else results[0]
                if options.side_by_side:
                    frame = _side_by_side([full_source if paste else source, pending.popleft(), frame])
                writer.write(frame)
                bar.advance()
    elapsed = time.perf_counter() - started
    return Summary(
        output=str(options.output), frames=writer.frames_written, seconds=round(elapsed, 3),
        fps=round(writer.frames_written / elapsed, 2) if elapsed > 0 else None,
        time_to_first_frame=round(first_frame_at or 0.0, 3), video_fps=info.fps, fps_from=info.fps_from,
        start=round(info.start, 3), size=[int(frame.shape[1]), int(frame.shape[0])], model=loaded.label,
        domain=loaded.domain, domain_from=loaded.domain_from, device=str(device), precision=options.precision,
        relative=options.relative, adapt_scale=options.adapt_scale and options.relative and not options.avd,
        movement_scale=round(animation.movement_scales[0], 6), motion_scale=options.motion_scale,
        smoothing=smoothing, audio=writer.has_audio, avd=options.avd,
        face_backend=backend.name if backend is not None else None,
        crop_box=[round(float(v), 1) for v in crops[0].box] if len(crops) == 1 else None,
        faces=[{**c.summary(), "movement_scale": round(scale, 6)}
               for c, scale in zip(crops, animation.movement_scales, strict=True)] if crops else None,
        best_frame=reference_index, warnings=list(reporter.warnings),
    )
