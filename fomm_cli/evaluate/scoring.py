"""From frame pairs to per-frame metric values, per-video means and dataset values.

A dataset value is the mean over every scored frame of every video pooled together, the way
pose-evaluation's scripts and first-order-model's reconstruction loss average (see ``metrics``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fomm_cli.errors import FommError
from fomm_cli.evaluate import metrics
from fomm_cli.evaluate.extractors import Extractors

METRICS = ("l1", "akd", "mkr", "aed")

L1_SOURCE = "pixel values in [0, 1]"
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


def score_video(name: str, pairs: Iterable[tuple[np.ndarray, np.ndarray]], extractors: Extractors) -> VideoScores:
    """Score (real, generated) uint8 H x W x 3 frame pairs of one video."""
    l1: list[float] = []
    features = []
    size: tuple[int, int] | None = None
    for index, (real, generated) in enumerate(pairs):
        if real.shape != generated.shape:
            raise FommError(f"{name}: frame {index} is {_shape(generated)} in the generated video but "
                            f"{_shape(real)} in the real one; both must have the same size")
        size = size or (real.shape[0], real.shape[1])
        l1.append(float(metrics.l1_per_frame(real[None], generated[None])[0]))
        features.append(extractors.pair(real, generated))
    if size is None:
        raise FommError(f"{name}: video has no frames")
    per_frame = {"l1": np.array(l1)}
    if "akd" in extractors.sources or "mkr" in extractors.sources:
        real_kp = np.stack([f.real_kp for f in features])
        generated_kp = np.stack([f.generated_kp for f in features])
        if "akd" in extractors.sources:
            per_frame["akd"] = metrics.akd_per_frame(real_kp, generated_kp)
        if "mkr" in extractors.sources:
            per_frame["mkr"] = metrics.mkr_per_frame(real_kp, generated_kp)
    if "aed" in extractors.sources:
        per_frame["aed"] = metrics.aed_per_frame(np.stack([f.real_id for f in features]),
                                                 np.stack([f.generated_id for f in features]))
    return VideoScores(name, size, per_frame)


def summarize(kind: str, inputs: dict[str, str], videos: list[VideoScores], extractors: Extractors,
              warnings: list[str] | None = None) -> Report:
    """Pool the per-frame values of all videos into one value per metric."""
    summary: dict[str, MetricSummary] = {}
    sources = {"l1": L1_SOURCE, **extractors.sources}
    for metric in METRICS:
        if metric not in sources:
            summary[metric] = MetricSummary(None, 0, None, extractors.unavailable.get(metric, "not available"))
            continue
        value, count = metrics.pooled_mean([v.per_frame[metric] for v in videos])
        summary[metric] = MetricSummary(value, count, sources[metric], None if count else ALL_SKIPPED[metric])
    return Report(kind, inputs, videos, summary, list(warnings or []))


def _shape(frame: np.ndarray) -> str:
    return f"{frame.shape[1]}x{frame.shape[0]}"
