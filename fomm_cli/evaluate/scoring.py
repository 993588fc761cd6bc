"""From frame pairs to per-frame metric values, per-video means and dataset values.

A dataset value is the mean over every scored frame of every video pooled together, the way
pose-evaluation's scripts and first-order-model's reconstruction loss average (see ``metrics``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fomm_cli.errors import InputError
from fomm_cli.evaluate import metrics
from fomm_cli.evaluate.extractors import Extractors
from fomm_cli.evaluate.reconstruct import Pair

METRICS = ("l1", "akd", "mkr", "aed")

L1_SOURCE = "pixel values in [0, 1]"
# What L1 compared the real frames with: the model's float output (as the authors' reconstruction.py scored
# it), or uint8 frames (videos read from files, the repeated first frame). Rounding to 1/255 moves L1 by about
# 2.6 % at an L1 of 0.004.
L1_INPUTS = {"float": "float predictions (before rounding, as the authors' reconstruction.py)",
             "uint8": "uint8 frames"}
AVERAGING = "mean over all scored frames of all videos pooled (as the authors' scripts); per video: over its frames"
# Why a metric that could be computed has no value: every frame was skipped.
ALL_SKIPPED = {
    "l1": "no frames",
    "akd": "no frame had keypoints in both the real and the generated frame",
    "mkr": "no real frame had a body joint detected",
    "aed": "no real frame had an identity embedding (no face detected)",
}


@dataclass
class VideoScores:
    """Per-frame values of one video: metric -> (T,) float64, NaN for skipped frames. Metrics whose
    extractor is not available are absent. ``size``: (height, width) the frames were scored at."""

    name: str
    size: tuple[int, int]
    per_frame: dict[str, np.ndarray]
    l1_input: str = "uint8"  # a key of L1_INPUTS

    @property
    def frames(self) -> int:
        return len(self.per_frame["l1"])

    def mean(self, metric: str) -> tuple[float | None, int]:
        """(mean over the video's scored frames or None, number of scored frames)."""
        if metric not in self.per_frame:
            return None, 0
        return metrics.pooled_mean(self.per_frame[metric])


@dataclass
class MetricSummary:
    """A dataset value with what produced it: ``source`` is the extractor (None when unavailable), and
    ``reason`` says why ``value`` is None."""

    value: float | None
    frames: int
    source: str | None
    reason: str | None = None


@dataclass
class Report:
    kind: str
    inputs: dict[str, str]
    videos: list[VideoScores]
    metrics: dict[str, MetricSummary]
    warnings: list[str] = field(default_factory=list)

    @property
    def l1_input(self) -> str:
        """What L1 was computed on: "float" or "uint8" (a key of ``L1_INPUTS``), "mixed" if videos differ."""
        kinds = {video.l1_input for video in self.videos}
        return kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "uint8"


def score_video(name: str, pairs: Iterable[Pair], extractors: Extractors) -> VideoScores:
    """Score the frame pairs of one video: L1 on the float prediction when there is one, else on the uint8
    frame; keypoints and identities on the uint8 frames."""
    l1: list[float] = []
    features = []
    size: tuple[int, int] | None = None
    inputs = set()
    for index, (real, generated, prediction) in enumerate(pairs):
        if real.shape != generated.shape:
            raise InputError(name, f"frame {index} is {_shape(generated)} in the generated video but "
                                   f"{_shape(real)} in the real one; both must have the same size")
        size = size or (real.shape[0], real.shape[1])
        scored = generated if prediction is None else prediction
        inputs.add("uint8" if prediction is None else "float")
        l1.append(float(metrics.l1_per_frame(real[None], scored[None])[0]))
        features.append(extractors.pair(real, generated))
    if size is None:
        raise InputError(name, "the video has no frames")
    per_frame = {"l1": np.array(l1)}
    if "akd" in extractors.sources or "mkr" in extractors.sources:
        real_kp = np.stack([_given(f.real_kp) for f in features])
        generated_kp = np.stack([_given(f.generated_kp) for f in features])
        if "akd" in extractors.sources:
            per_frame["akd"] = metrics.akd_per_frame(real_kp, generated_kp)
        if "mkr" in extractors.sources:
            per_frame["mkr"] = metrics.mkr_per_frame(real_kp, generated_kp)
    if "aed" in extractors.sources:
        per_frame["aed"] = metrics.aed_per_frame(np.stack([_given(f.real_id) for f in features]),
                                                 np.stack([_given(f.generated_id) for f in features]))
    return VideoScores(name, size, per_frame, inputs.pop() if len(inputs) == 1 else "mixed")


def summarize(kind: str, inputs: dict[str, str], videos: list[VideoScores], extractors: Extractors,
              warnings: list[str] | None = None) -> Report:
    """Pool the per-frame values of all videos into one value per metric."""
    summary: dict[str, MetricSummary] = {}
    kinds = {video.l1_input for video in videos}
    l1_on = L1_INPUTS[kinds.pop()] if len(kinds) == 1 else "float predictions and uint8 frames"
    sources = {"l1": f"{L1_SOURCE}, {l1_on}", **extractors.sources}
    for metric in METRICS:
        if metric not in sources:
            summary[metric] = MetricSummary(None, 0, None, extractors.unavailable.get(metric, "not available"))
            continue
        value, count = metrics.pooled_mean([v.per_frame[metric] for v in videos])
        summary[metric] = MetricSummary(value, count, sources[metric], None if count else ALL_SKIPPED[metric])
    return Report(kind, inputs, videos, summary, list(warnings or []))


def _given(value: np.ndarray | None) -> np.ndarray:
    """A feature that an extractor listed in ``sources`` must provide."""
    if value is None:
        raise ValueError("an extractor listed a metric it gave no features for")
    return value


def _shape(frame: np.ndarray) -> str:
    return f"{frame.shape[1]}x{frame.shape[0]}"
