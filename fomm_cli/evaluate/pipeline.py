"""The two ways to evaluate: reconstruct a test folder with a model, or compare two folders of videos."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fomm_cli.datasets import video_key
from fomm_cli.errors import InputError
from fomm_cli.evaluate.extractors import Extractors
from fomm_cli.evaluate.reconstruct import Pair, iter_video, list_videos, reconstruct, repeat_first_frame
from fomm_cli.evaluate.scoring import Report, VideoScores, score_video, summarize
from fomm_cli.reporting import Reporter

if TYPE_CHECKING:
    import torch

    from fomm_cli.models.model import FirstOrderModel
    from fomm_cli.models.tpsmm.model import TPSMotionModel

Pairs = Iterable[Pair]


def keyed_videos(folder: str | Path) -> dict[str, Path]:
    """The videos of a folder by matching name (see ``video_key``); two entries with one name are an error."""
    keyed: dict[str, Path] = {}
    for path in list_videos(folder):
        key = video_key(path)
        if key in keyed:
            raise InputError(path.parent, f"{keyed[key].name} and {path.name} are the same video name; keep one "
                                          "of them")
        keyed[key] = path
    return keyed


def evaluate_model(model: FirstOrderModel | TPSMotionModel, dataset: str | Path, extractors: Extractors, *,
                   inputs: dict[str, str], device: str | torch.device = "cpu", batch_size: int = 8,
                   frame_shape: tuple[int, int] | None = None, save: Path | None = None,
                   reporter: Reporter | None = None) -> Report:
    """Reconstruct every video of ``dataset`` from its first frame (absolute keypoints) and score it.

    Frames are resized to the model's size; AKD is in pixels at that size; L1 is scored on the model's float
    output (``Report.l1_input`` says so). ``save``: a folder that receives one folder of lossless PNG frames
    per video, written whole at the end (an existing one is replaced).
    """
    from fomm_cli.animate import Animator

    animator = Animator(model, device, relative=False, adapt_scale=False, batch_size=batch_size)
    size = (int(model.config.image_size[0]), int(model.config.image_size[1]))
    return _evaluate(dataset, lambda path: reconstruct(animator, iter_video(path, frame_shape, size)), extractors,
                     inputs=inputs, save=save, reporter=reporter or Reporter())


def evaluate_baseline(dataset: str | Path, extractors: Extractors, *, inputs: dict[str, str],
                      frame_shape: tuple[int, int] | None = None, save: Path | None = None,
                      reporter: Reporter | None = None) -> Report:
    """Score the no-motion baseline: every frame of a test video "reconstructed" as its first frame.

    The floor a motion model must beat on the same videos (frames at their own size).
    """
    return _evaluate(dataset, lambda path: repeat_first_frame(iter_video(path, frame_shape)), extractors,
                     inputs=inputs, save=save, reporter=reporter or Reporter())


def _evaluate(dataset: str | Path, reconstructions: Callable[[Path], Pairs], extractors: Extractors, *,
              inputs: dict[str, str], save: Path | None, reporter: Reporter) -> Report:
    """Score ``reconstructions(path)`` (real, generated) pairs for every video of ``dataset``."""
    from fomm_cli.fsutil import replace_path, temp_dir_beside

    videos = keyed_videos(dataset)
    staging = None
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        staging = temp_dir_beside(save)
    scores: list[VideoScores] = []
    try:
        with reporter.progress("reconstructing", len(videos)) as bar:
            for key, path in videos.items():
                pairs = reconstructions(path)
                if staging is not None:
                    pairs = _saving(pairs, staging / key)
                scores.append(score_video(key, pairs, extractors))
                bar.advance(info=key)
        if staging is not None and save is not None:
            replace_path(staging, save)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return summarize(extractors.kind, inputs, scores, extractors)


def _saving(pairs: Pairs, folder: Path) -> Iterator[Pair]:
    """Pass pairs through, writing each generated frame to ``folder`` as ``000000.png``, ``000001.png``..."""
    from fomm_cli.media.image import write_image

    folder.mkdir()
    for index, pair in enumerate(pairs):
        write_image(folder / f"{index:06d}.png", pair.generated)
        yield pair


def evaluate_folders(real: str | Path, generated: str | Path, extractors: Extractors, *,
                     frame_shape: tuple[int, int] | None = None, reporter: Reporter | None = None) -> Report:
    """Score the videos of ``generated`` against those of ``real``: videos matched by name, frames by index.

    Every real video needs a generated one; generated videos without a real one are ignored with a
    warning. When the two differ in length, the common frames are scored and a warning says so.
    """
    reporter = reporter or Reporter()
    real_videos, generated_videos = keyed_videos(real), keyed_videos(generated)
    missing = [key for key in real_videos if key not in generated_videos]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(generated, f"has no video named like {shown} from {real}")
    warnings = []
    extra = sorted(set(generated_videos) - set(real_videos))
    if extra:
        warnings.append(f"ignored {len(extra)} generated video(s) with no real counterpart: {', '.join(extra[:5])}")
    scores: list[VideoScores] = []
    with reporter.progress("scoring", len(real_videos)) as bar:
        for key, path in real_videos.items():
            lengths: dict[str, int] = {}
            pairs = _zip_counting(iter_video(path, frame_shape), iter_video(generated_videos[key], frame_shape),
                                  lengths)
            scores.append(score_video(key, pairs, extractors))
            if lengths["real"] != lengths["generated"]:
                warnings.append(f"{key}: real video has {lengths['real']} frames, generated "
                                f"{lengths['generated']}; scored the first {scores[-1].frames}")
            bar.advance(info=key)
    inputs = {"real": str(real), "generated": str(generated)}
    return summarize(extractors.kind, inputs, scores, extractors, warnings)


def _zip_counting(real: Iterator[np.ndarray], generated: Iterator[np.ndarray],
                  lengths: dict[str, int]) -> Iterator[Pair]:
    """Pairs by index; afterwards ``lengths`` holds both videos' frame counts (the longer one is read
    to its end to count it)."""
    count = 0
    while True:
        real_frame, generated_frame = next(real, None), next(generated, None)
        if real_frame is None or generated_frame is None:
            lengths["real"] = count + (real_frame is not None) + sum(1 for _ in real)
            lengths["generated"] = count + (generated_frame is not None) + sum(1 for _ in generated)
            return
        count += 1
        yield Pair(real_frame, generated_frame)
