"""An evaluation report as a rich table (people), a JSON object or CSV (machines).

JSON: the dataset values sit at the top level under ``l1``, ``akd``, ``mkr``, ``aed``; a value is null
exactly when ``not_available`` has an entry for that metric saying why (no extractor for this kind or
installation, or every frame skipped, e.g. no face in any generated frame). ``extractors`` names what
produced each metric: numbers from different extractors are not comparable. ``l1_input`` says what L1 compared
the real frames with: ``float`` (the model's output before rounding, as the authors' reconstruction.py; what
``fomm eval`` scores when it runs the model) or ``uint8`` (frames read from files, the repeated first frame).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fomm_cli.evaluate.scoring import AVERAGING, METRICS, Report

LABELS = {"l1": "L1", "akd": "AKD", "mkr": "MKR", "aed": "AED"}
UNITS = {
    "l1": "mean |real - generated| per pixel and channel, values in [0, 1]",
    "akd": "mean |dx|, |dy| of keypoints in pixels at the scored frame size",
    "mkr": "fraction of the real frame's joints missing in the generated frame",
    "aed": "squared Euclidean distance between identity embeddings (no square root, as published)",
}


def to_json(report: Report) -> dict[str, Any]:
    metrics = report.metrics
    return {
        "kind": report.kind,
        **report.inputs,
        **{m: metrics[m].value for m in METRICS},
        "not_available": {m: metrics[m].reason for m in METRICS if metrics[m].value is None},
        "extractors": {m: metrics[m].source for m in METRICS},
        "frames_scored": {m: metrics[m].frames for m in METRICS},
        "l1_input": report.l1_input,
        "units": UNITS,
        "averaging": AVERAGING,
        "videos": [
            {
                "name": video.name,
                "frames": video.frames,
                "size": list(video.size),
                **{m: video.mean(m)[0] for m in METRICS},
                "frames_scored": {m: video.mean(m)[1] for m in METRICS},
            }
            for video in report.videos
        ],
        "warnings": report.warnings,
    }


def to_csv(report: Report) -> str:
    """One row per video and a last ``overall`` row; empty cells where a value is not available."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "video", "frames", *METRICS])
    for video in report.videos:
        writer.writerow(["video", video.name, video.frames, *(_cell(video.mean(m)[0]) for m in METRICS)])
    total = sum(video.frames for video in report.videos)
    writer.writerow(["overall", "", total, *(_cell(report.metrics[m].value) for m in METRICS)])
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def print_table(report: Report) -> None:
    """Per-video values, then the overall values with the extractor behind each one."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    videos = Table(title=f"Video reconstruction ({report.kind})", title_justify="left")
    videos.add_column("video", overflow="fold")
    videos.add_column("frames", justify="right")
    for metric in METRICS:
        videos.add_column(LABELS[metric], justify="right")
    for video in report.videos:
        videos.add_row(escape(video.name), str(video.frames), *(_fmt(video.mean(m)[0]) for m in METRICS))
    total = sum(video.frames for video in report.videos)
    videos.add_section()
    videos.add_row("overall", str(total), *(_fmt(report.metrics[m].value) for m in METRICS), style="bold")
    console.print(videos)

    overall = Table(title="Overall (all scored frames pooled)", title_justify="left")
    overall.add_column("metric")
    overall.add_column("value", justify="right")
    overall.add_column("frames", justify="right")
    overall.add_column("extractor / note")
    for metric in METRICS:
        summary = report.metrics[metric]
        note = summary.source or ""
        if summary.reason:
            note = f"{note}: {summary.reason}" if note else summary.reason
        overall.add_row(LABELS[metric], _fmt(summary.value), str(summary.frames), escape(note))
    console.print(overall)
