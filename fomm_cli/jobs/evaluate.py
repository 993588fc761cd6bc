"""`fomm eval`: video-reconstruction metrics (L1, AKD, MKR, AED) in one of three modes.

- model: reconstruct every test video of ``dataset`` from its first frame with a model, and score it;
- baseline: score the no-motion floor (every frame predicted by the video's first frame);
- folders: score existing ``generated`` videos against ``real`` ones, matched by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fomm_cli import __version__
from fomm_cli.devices import check_device_name
from fomm_cli.errors import (
    ConflictingSettings,
    InputNotFound,
    InvalidSetting,
    MissingSetting,
    OutputExists,
    one_of,
)
from fomm_cli.face import BACKEND_NAMES
from fomm_cli.reporting import Reporter

if TYPE_CHECKING:
    from fomm_cli.evaluate.extractors import Extractors
    from fomm_cli.evaluate.scoring import Report

KINDS = ("face", "body")


@dataclass(frozen=True)
class Options:
    """``kind`` None: the model's domain when it is face or body, else face."""

    dataset: Path | None = None
    model: str | None = None
    checkpoint: Path | None = None
    config: str | None = None
    trust_checkpoint: bool = False
    real: Path | None = None
    generated: Path | None = None
    baseline: bool = False
    kind: str | None = None
    save: Path | None = None
    frame_shape: tuple[int, int] | None = None
    face_backend: str = "auto"
    device: str = "auto"
    batch_size: int = 8
    overwrite: bool = False

    def __post_init__(self) -> None:
        uses_model = self.model is not None or self.checkpoint is not None
        if self.model is not None and self.checkpoint is not None:
            raise ConflictingSettings(("model", "checkpoint"), "give one, not both")
        if self.real is not None or self.generated is not None:
            if self.real is None or self.generated is None:
                raise ConflictingSettings(("real", "generated"), "they go together")
            if self.dataset is not None or uses_model or self.save is not None or self.baseline:
                raise ConflictingSettings(("real", "generated"), "they score existing videos: no dataset, model, "
                                                                 "save folder or baseline")
        elif self.dataset is None:
            raise MissingSetting("dataset", "a test folder to reconstruct (or real and generated folders)")
        elif self.baseline and uses_model:
            raise ConflictingSettings(("baseline", "model"), "the baseline needs no model")
        elif not self.baseline and not uses_model:
            raise MissingSetting("model", "the model (or checkpoint) to reconstruct the test videos with")
        if self.kind not in (None, *KINDS):
            raise InvalidSetting("kind", self.kind, "face or body")
        if self.face_backend not in BACKEND_NAMES:
            raise InvalidSetting("face_backend", self.face_backend, one_of(BACKEND_NAMES))
        check_device_name(self.device)
        if self.batch_size < 1:
            raise InvalidSetting("batch_size", self.batch_size, "at least 1")

    @property
    def mode(self) -> str:
        if self.real is not None:
            return "folders"
        return "baseline" if self.baseline else "model"


@dataclass
class Summary:
    report: Report

    def to_json(self) -> dict[str, Any]:
        from fomm_cli.evaluate.report import to_json

        return {**to_json(self.report), "version": __version__}


def check(options: Options) -> None:
    """Inputs exist and the save folder may be written, before any model loads."""
    for path, what in ((options.dataset, "dataset"), (options.real, "real videos folder"),
                       (options.generated, "generated videos folder"), (options.checkpoint, "checkpoint")):
        if path is not None and not path.exists():
            raise InputNotFound(path, what)
    if options.save is not None and options.save.exists() and not options.overwrite:
        raise OutputExists(options.save)


def run(options: Options, reporter: Reporter | None = None) -> Summary:
    reporter = reporter or Reporter()
    check(options)
    from fomm_cli.devices import resolve_device
    from fomm_cli.evaluate import pipeline

    device = resolve_device(options.device)
    if options.mode == "folders":
        assert options.real is not None and options.generated is not None
        with _extractors(options.kind or "face", options, device.type) as extractors:
            report = pipeline.evaluate_folders(options.real, options.generated, extractors,
                                               frame_shape=options.frame_shape, reporter=reporter)
    elif options.mode == "baseline":
        assert options.dataset is not None
        with _extractors(options.kind or "face", options, device.type) as extractors:
            report = pipeline.evaluate_baseline(options.dataset, extractors, frame_shape=options.frame_shape,
                                                inputs={"baseline": "first frame", "dataset": str(options.dataset)},
                                                save=options.save, reporter=reporter)
    else:
        from fomm_cli.pretrained import load_pretrained

        assert options.dataset is not None
        loaded = load_pretrained(options.model, checkpoint=options.checkpoint, config=options.config,
                                 trust=options.trust_checkpoint, reporter=reporter)
        kind = options.kind or (loaded.domain if loaded.domain in KINDS else "face")
        with _extractors(kind, options, device.type) as extractors:
            report = pipeline.evaluate_model(
                loaded.model, options.dataset, extractors, device=device, batch_size=options.batch_size,
                inputs={"model": loaded.label, "dataset": str(options.dataset)}, frame_shape=options.frame_shape,
                save=options.save, reporter=reporter)
    for warning in report.warnings:
        reporter.warn(warning)
    return Summary(report)


@contextlib.contextmanager
def _extractors(kind: str, options: Options, device: str) -> Iterator[Extractors]:
    """The metric extractors for ``kind``, closed when the scoring is done."""
    from fomm_cli.evaluate.extractors import make_extractors

    extractors = make_extractors(kind, options.face_backend, device)
    try:
        yield extractors
    finally:
        extractors.close()
