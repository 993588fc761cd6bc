"""`fomm animate`: files in, one video (or GIF, or PNG folder) out.

Reads the source, optionally crops its face, streams the driving video through the ``Animator``
(decoding on a background thread), optionally pastes each result back into the full-resolution source,
and encodes as it goes. Nothing is written at ``output`` until the last frame is encoded.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fomm_cli import __version__
from fomm_cli.devices import PRECISIONS, check_device_name
from fomm_cli.errors import ConflictingSettings, InputError, InputNotFound, InvalidSetting, one_of
from fomm_cli.face import BACKEND_NAMES, DEFAULT_INCREASE
from fomm_cli.media import is_image
from fomm_cli.media.outputs import check_output
from fomm_cli.reporting import Reporter

if TYPE_CHECKING:
    import numpy as np

FITS = ("crop", "pad", "stretch")
DOMAINS = ("face", "body", "robot", "cartoon", "synthetic", "other")


@dataclass(frozen=True)
class Options:
    """Settings of one animation. ``crop`` None: crop the source's face when the model is a face model."""

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
    best_frame: int | None = None
    find_best_frame: bool = False
    crop: bool | None = None
    paste_back: bool = True
    crop_driving: bool = False
    increase: float = DEFAULT_INCREASE
    face_backend: str = "auto"
    fit: str = "crop"
    side_by_side: bool = False
    audio: bool = True
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
        if self.best_frame is not None and self.find_best_frame:
            raise ConflictingSettings(("best_frame", "find_best_frame"), "they exclude each other")
        if self.best_frame is not None and self.best_frame < 0:
            raise InvalidSetting("best_frame", self.best_frame, "a frame number >= 0")
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
    """What one animation did (the ``--json`` object)."""

    output: str
    frames: int
    seconds: float
    fps: float | None
    time_to_first_frame: float
    video_fps: float
    size: list[int]
    model: str
    domain: str | None
    domain_from: str
    device: str
    precision: str
    relative: bool
    adapt_scale: bool
    movement_scale: float
    audio: bool
    face_backend: str | None = None
    crop_box: list[float] | None = None
    best_frame: int | None = None
    warnings: list[str] = field(default_factory=list)
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items()
                if value is not None or key in ("fps", "domain")}


def check(options: Options) -> None:
    """Every check that needs no model: inputs exist and have the right kind, the output can be written."""
    if not options.source.is_file():
        raise InputNotFound(options.source, "source image")
    if not is_image(options.source):
        raise InputError(options.source, "the source must be an image (png, jpg, webp, ...)")
    if not options.driving.exists():
        raise InputNotFound(options.driving, "driving video")
    if options.checkpoint is not None and not options.checkpoint.exists():
        raise InputNotFound(options.checkpoint, "checkpoint")
    check_output(options.output, overwrite=options.overwrite, inputs=[options.source, options.driving])


def _nth(frames: Iterator[np.ndarray], index: int) -> np.ndarray:
    frame = next(itertools.islice(frames, index, None), None)
    if frame is None:
        raise InputError("driving video", f"frame {index} is past its end")
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
    from fomm_cli.media.video import VideoWriter, iter_frames, probe
    from fomm_cli.pretrained import load_pretrained

    loaded = load_pretrained(options.model, checkpoint=options.checkpoint, config=options.config,
                             trust=options.trust_checkpoint, domain=options.domain, reporter=reporter)
    model = loaded.model
    size = tuple(model.config.image_size)
    device = resolve_device(options.device)
    animator = Animator(model, device, relative=options.relative, adapt_scale=options.adapt_scale,
                        batch_size=options.batch_size, precision=options.precision)
    crop = options.crop if options.crop is not None else loaded.domain == "face"
    full_source = read_image(options.source)
    info = probe(options.driving)

    backend = None
    if crop or options.crop_driving or options.find_best_frame:
        from fomm_cli.face.backends import get_backend

        backend = get_backend(options.face_backend, device=device.type)
        reporter.note(f"using face backend: {backend.name}")

    crop_box = None
    if crop:
        from fomm_cli.face.source import prepare_face_source

        source, crop_box = prepare_face_source(full_source, backend, size, options.increase)
    else:
        if full_source.shape[:2] != size:
            reporter.note(f"source {full_source.shape[1]}x{full_source.shape[0]} resized to "
                          f"{size[1]}x{size[0]} ({options.fit})")
        source = fit(full_source, size, options.fit)

    def driving_frames() -> Iterator[np.ndarray]:
        if options.crop_driving:
            from fomm_cli.face.source import crop_driving_frames

            return crop_driving_frames(options.driving, backend, size, options.increase, quiet=True)
        return (fit(frame, size, options.fit) for frame in iter_frames(options.driving))

    if (info.width, info.height) != (size[1], size[0]) and not options.crop_driving:
        reporter.note(f"driving {info.width}x{info.height} resized to {size[1]}x{size[0]} ({options.fit})")

    reference_index = options.best_frame
    if options.find_best_frame:
        from fomm_cli.face.best_frame import find_best_frame

        # Landmarks are normalised for position and scale, so search at full resolution, where detection works
        # best (a 64 px demo model's frames are too small for a face detector).
        candidates = driving_frames() if options.crop_driving else iter_frames(options.driving)
        reference_index, _ = find_best_frame(full_source, candidates, backend)
        if reference_index is None:
            from fomm_cli.errors import NoFaceFound

            raise NoFaceFound("the source image or any driving frame")
        reporter.note(f"best frame: {reference_index}")

    frames = prefetch(driving_frames())
    first = next(frames, None)
    if first is None:
        raise InputError(options.driving, "the driving video has no frames")
    reference = first if reference_index is None else _nth(driving_frames(), reference_index)
    animation = animator.start([source], reference)

    paste = crop and options.paste_back
    if paste:
        from fomm_cli.face.paste import paste_back

    audio_from = options.driving if options.audio and info.has_audio else None
    pending: deque[np.ndarray] = deque()

    def remembered(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in frames:
            if options.side_by_side:
                pending.append(frame)
            yield frame

    started = time.perf_counter()
    first_frame_at = None
    with VideoWriter(options.output, info.fps, audio_from=audio_from, overwrite=options.overwrite,
                     crf=options.crf) as writer, reporter.progress("animating", info.num_frames) as bar:
        for (result,) in animation.frames(remembered(itertools.chain([first], frames))):
            if first_frame_at is None:
                first_frame_at = time.perf_counter() - started
            frame = paste_back(full_source, result, crop_box) if paste else result
            if options.side_by_side:
                frame = _side_by_side([full_source if paste else source, pending.popleft(), frame])
            writer.write(frame)
            bar.advance()
    elapsed = time.perf_counter() - started
    return Summary(
        output=str(options.output), frames=writer.frames_written, seconds=round(elapsed, 3),
        fps=round(writer.frames_written / elapsed, 2) if elapsed > 0 else None,
        time_to_first_frame=round(first_frame_at or 0.0, 3), video_fps=info.fps,
        size=[int(frame.shape[1]), int(frame.shape[0])], model=loaded.label, domain=loaded.domain,
        domain_from=loaded.domain_from, device=str(device), precision=options.precision, relative=options.relative,
        adapt_scale=options.adapt_scale and options.relative, movement_scale=round(animation.movement_scales[0], 6),
        audio=writer.has_audio,
        face_backend=backend.name if backend is not None else None,
        crop_box=None if crop_box is None else [round(float(v), 1) for v in crop_box],
        best_frame=reference_index, warnings=list(reporter.warnings),
    )
