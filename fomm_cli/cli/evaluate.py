"""`fomm eval`: video-reconstruction metrics (L1, AKD, MKR, AED) of a model, or of two folders of videos."""

from __future__ import annotations

from pathlib import Path

import typer

from fomm_cli.cli.common import (
    checkpoint_option,
    config_option,
    device_option,
    model_option,
    note,
    print_json,
    trust_option,
)


def evaluate(
    dataset: Path | None = typer.Argument(
        None, help="Test folder: video files (mp4, gif, mov...), folders of frames or PNG strips; a dataset root "
                   "with train/ and test/ means its test/."),
    model: str | None = model_option(),
    checkpoint: Path | None = checkpoint_option(),
    config: str | None = config_option(),
    trust_checkpoint: bool = trust_option(),
    real: Path | None = typer.Option(None, "--real", help="Score without a model: the folder of real videos..."),
    generated: Path | None = typer.Option(None, "--generated",
                                          help="...and of generated ones, matched by name, frames by index."),
    baseline: bool = typer.Option(False, "--baseline", help="Score the no-motion baseline instead of a model: "
                                                             "every frame predicted by the video's first frame."),
    kind: str | None = typer.Option(None, "--kind", help="face or body: picks the keypoint and identity "
                                                         "extractors (default: the model's domain, else face)."),
    save: Path | None = typer.Option(None, "--save", help="Keep the reconstructions: a folder with one folder of "
                                                          "lossless PNG frames per video."),
    frame_shape: str | None = typer.Option(None, "--frame-shape", help="HEIGHTxWIDTH of the frames in PNG strips "
                                                                       "(default: square, as tall as the strip)."),
    face_backend: str = typer.Option("auto", "--face-backend", help="auto, face-alignment or dlib."),
    device: str = device_option(),
    batch_size: int = typer.Option(8, "--batch-size", help="Frames per forward pass."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Replace an existing --save folder."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object on stdout instead of the table."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (one row per video, then overall) on stdout."),
) -> None:
    """Reconstruct every test video from its first frame and score it against the real one.

    L1 (pixels), AKD (keypoint distance), MKR (missing body joints) and AED (identity distance), defined and
    averaged as in the authors' evaluation scripts. With --real/--generated, score existing videos instead;
    with --baseline, the repeated first frame (the floor a model must beat).
    """
    from fomm_cli.errors import FommError, SettingsError

    folders = real is not None or generated is not None
    if folders:
        if real is None or generated is None:
            raise SettingsError("--real and --generated go together")
        if dataset is not None or model is not None or checkpoint is not None or save is not None:
            raise SettingsError(
                "--real/--generated score existing videos: drop DATASET, --model, --checkpoint and --save")
        if baseline:
            raise SettingsError("--baseline scores a DATASET, not --real/--generated folders")
    else:
        if dataset is None:
            raise SettingsError("give a DATASET test folder and --model or --checkpoint, or --real and --generated")
        if baseline and (model is not None or checkpoint is not None):
            raise SettingsError("--baseline needs no model: drop --model and --checkpoint")
        if not baseline and model is None and checkpoint is None:
            raise SettingsError("give --model NAME or --checkpoint PATH to reconstruct the test videos with")
    if as_json and as_csv:
        raise SettingsError("--json and --csv are exclusive")
    if kind not in (None, "face", "body"):
        raise SettingsError(f"--kind must be face or body, not {kind!r}")
    if save is not None and save.exists() and not overwrite:
        raise FommError(f"{save} exists (pass -y to overwrite)")

    from fomm_cli.devices import resolve_device
    from fomm_cli.evaluate.extractors import make_extractors
    from fomm_cli.evaluate.pipeline import evaluate_baseline, evaluate_folders, evaluate_model
    from fomm_cli.evaluate.reconstruct import parse_frame_shape

    quiet = as_json or as_csv
    from fomm_cli.reporting import ConsoleReporter

    reporter = ConsoleReporter(notes=not quiet)
    shape = parse_frame_shape(frame_shape) if frame_shape else None
    torch_device = resolve_device(device)
    if folders:
        assert real is not None and generated is not None
        extractors = make_extractors(kind or "face", face_backend, torch_device.type)
        try:
            report = evaluate_folders(real, generated, extractors, frame_shape=shape, reporter=reporter)
        finally:
            extractors.close()
    elif baseline:
        assert dataset is not None
        extractors = make_extractors(kind or "face", face_backend, torch_device.type)
        try:
            report = evaluate_baseline(dataset, extractors, inputs={"baseline": "first frame", "dataset": str(dataset)},
                                       frame_shape=shape, save=save, reporter=reporter)
        finally:
            extractors.close()
    else:
        from fomm_cli.pretrained import load_model

        assert dataset is not None
        loaded, origin = load_model(model, checkpoint=checkpoint, config=config, trust=trust_checkpoint, quiet=quiet)
        domain_kind = origin.domain if origin.domain in ("face", "body") else None
        extractors = make_extractors(kind or domain_kind or "face", face_backend, torch_device.type)
        inputs = {"model": origin.name or str(origin.path), "dataset": str(dataset)}
        try:
            report = evaluate_model(loaded, dataset, extractors, inputs=inputs, device=torch_device,
                                    batch_size=batch_size, frame_shape=shape, save=save, reporter=reporter)
        finally:
            extractors.close()

    from fomm_cli.evaluate.report import print_table, to_csv, to_json

    for warning in report.warnings:
        note(f"warning: {warning}", quiet=as_json)
    if as_json:
        print_json(to_json(report))
    elif as_csv:
        typer.echo(to_csv(report), nl=False)
    else:
        print_table(report)
        if save is not None:
            note(f"wrote {len(report.videos)} reconstructions to {save}")
