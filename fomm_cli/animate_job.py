"""`fomm animate` end to end: files in, one video (or GIF, or PNG folder) out.

Reads the source, optionally crops its face, streams the driving video through the ``Animator`` (decoding
on a background thread), optionally pastes each result back into the full-resolution source, and encodes
as it goes. Nothing is written at ``output`` until the last frame is encoded.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fomm_cli.animate import Animator, prefetch
from fomm_cli.errors import FommError, SettingsError
from fomm_cli.face import DEFAULT_INCREASE
from fomm_cli.media import is_image
from fomm_cli.media.image import fit, read_image, resize
from fomm_cli.media.video import VideoWriter, iter_frames, probe
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.progress import Progress


@dataclass
class AnimateOptions:
    source: Path
    driving: Path
    output: Path
    relative: bool = True
    adapt_scale: bool = True
    best_frame: int | None = None
    find_best_frame: bool = False
    crop: bool = False
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
    overwrite: bool = False
    quiet: bool = False
    crf: int = 18
    notes: list[str] = field(default_factory=list)


def check_paths(options: AnimateOptions) -> None:
    """Fail fast, before any model is loaded."""
    if not options.source.exists():
        raise FommError(f"source image not found: {options.source}")
    if not is_image(options.source):
        raise FommError(f"source must be an image (png, jpg, webp, ...): {options.source}")
    if not options.driving.exists():
        raise FommError(f"driving video not found: {options.driving}")
    if options.output.exists() and not options.overwrite:
        raise FommError(f"{options.output} exists (pass -y to overwrite)")
    if options.best_frame is not None and options.find_best_frame:
        raise SettingsError("--best-frame and --find-best-frame exclude each other")
    if options.best_frame is not None and options.best_frame < 0:
        raise SettingsError("--best-frame must be >= 0")


def _nth(frames: Iterator[np.ndarray], index: int, what: str) -> np.ndarray:
    frame = next(itertools.islice(frames, index, None), None)
    if frame is None:
        raise FommError(f"{what} {index} is past the end of the driving video")
    return frame


def _side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    height = panels[-1].shape[0]
    scaled = [p if p.shape[0] == height else resize(p, (height, round(p.shape[1] * height / p.shape[0])))
              for p in panels]
    return np.concatenate(scaled, axis=1)


def run_animation(model: FirstOrderModel, options: AnimateOptions, model_label: str) -> dict[str, Any]:
    """Animate ``options.source`` with ``options.driving`` into ``options.output``; returns a summary."""
    from fomm_cli.devices import resolve_device

    size = tuple(model.config.image_size)
    device = resolve_device(options.device)
    animator = Animator(model, device, relative=options.relative, adapt_scale=options.adapt_scale,
                        batch_size=options.batch_size, precision=options.precision)
    full_source = read_image(options.source)
    info = probe(options.driving)
    summary: dict[str, Any] = {"model": model_label, "device": str(device), "precision": options.precision}

    backend = None
    if options.crop or options.crop_driving or options.find_best_frame:
        from fomm_cli.face.backends import get_backend

        backend = get_backend(options.face_backend, device=device.type)
        summary["face_backend"] = backend.name
        options.notes.append(f"using face backend: {backend.name}")

    crop_box = None
    if options.crop:
        from fomm_cli.face.source import prepare_face_source

        source, crop_box = prepare_face_source(full_source, backend, size, options.increase)
        summary["crop_box"] = [round(float(v), 1) for v in crop_box]
    else:
        if full_source.shape[:2] != size:
            options.notes.append(f"source {full_source.shape[1]}x{full_source.shape[0]} resized to "
                                 f"{size[1]}x{size[0]} ({options.fit})")
        source = fit(full_source, size, options.fit)

    def driving_frames() -> Iterator[np.ndarray]:
        if options.crop_driving:
            from fomm_cli.face.source import crop_driving_frames

            return crop_driving_frames(options.driving, backend, size, options.increase, quiet=options.quiet)
        return (fit(frame, size, options.fit) for frame in iter_frames(options.driving))

    if (info.width, info.height) != (size[1], size[0]) and not options.crop_driving:
        options.notes.append(f"driving {info.width}x{info.height} resized to {size[1]}x{size[0]} ({options.fit})")

    reference_index = options.best_frame
    if options.find_best_frame:
        from fomm_cli.face.best_frame import find_best_frame

        # Landmarks are normalised for position and scale, so search at full resolution, where detection works
        # best (a 64 px demo model's frames are too small for a face detector).
        candidates = driving_frames() if options.crop_driving else iter_frames(options.driving)
        reference_index, _ = find_best_frame(full_source, candidates, backend)
        if reference_index is None:
            raise FommError("--find-best-frame: no face found in the source or in any driving frame")
        options.notes.append(f"best frame: {reference_index}")
    if reference_index is not None:
        summary["best_frame"] = reference_index
    reference = _nth(driving_frames(), reference_index, "frame") if reference_index is not None else None

    paste = options.crop and options.paste_back
    if paste:
        from fomm_cli.face.paste import paste_back

    audio_from = options.driving if options.audio and info.has_audio else None
    pending: collections.deque[np.ndarray] = collections.deque()

    def remembered(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in frames:
            if options.side_by_side:
                pending.append(frame)
            yield frame

    started = time.perf_counter()
    first_frame_at = None
    with VideoWriter(options.output, info.fps, audio_from=audio_from, overwrite=options.overwrite,
                     crf=options.crf) as writer, Progress("animating", info.num_frames, options.quiet) as bar:
        for result in animator.animate(source, remembered(prefetch(driving_frames())), reference):
            if first_frame_at is None:
                first_frame_at = time.perf_counter() - started
            frame = paste_back(full_source, result, crop_box) if paste else result
            if options.side_by_side:
                shown_source = full_source if paste else source
                frame = _side_by_side([shown_source, pending.popleft(), frame])
            writer.write(frame)
            bar.advance()
    elapsed = time.perf_counter() - started
    summary.update({
        "output": str(options.output),
        "frames": writer.frames_written,
        "fps": round(writer.frames_written / elapsed, 2) if elapsed > 0 else None,
        "seconds": round(elapsed, 3),
        "time_to_first_frame": round(first_frame_at or 0.0, 3),
        "video_fps": info.fps,
        "size": [int(frame.shape[1]), int(frame.shape[0])],
        "relative": options.relative,
        "adapt_scale": options.adapt_scale and options.relative,
        "movement_scale": None,
        "audio": audio_from is not None and options.output.suffix.lower() != ".gif" and options.output.suffix != "",
    })
    return summary
