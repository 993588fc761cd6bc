"""`fomm train`: parse flags, resolve the config, run the trainer, report."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import typer

from fomm_cli.cli.common import print_json


def train(
    out: Path = typer.Option(..., "-o", "--out", help="Run folder: config, log, pictures, checkpoints, model/."),
    config: str | None = typer.Option(None, "-c", "--config",
                                      help="Official-layout YAML or a preset name (vox-256, taichi-adv-256, ...). "
                                           "Optional with --resume."),
    data: Path | None = typer.Option(None, "--data", help="Dataset root with train/ (and test/) folders."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Start over in a non-empty run folder."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop at this global step."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override train_params.num_epochs."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Per-process batch size."),
    num_repeats: int | None = typer.Option(None, "--num-repeats", help="Override train_params.num_repeats."),
    checkpoint_every: int | None = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints."),
    keep: int | None = typer.Option(None, "--keep", help="Rolling checkpoints to keep."),
    log_every: int | None = typer.Option(None, "--log-every", help="Steps between log.jsonl lines."),
    visualize_every: int | None = typer.Option(None, "--visualize-every", help="Steps between visuals/*.png."),
    perceptual: str | None = typer.Option(None, "--perceptual",
                                          help="vgg19 (ImageNet VGG-19 features) or l1 (pixel pyramid)."),
    vgg_weights: Path | None = typer.Option(None, "--vgg-weights",
                                            help="VGG-19 weights file (timm model.safetensors or torchvision .pth)."),
    init_from: Path | None = typer.Option(None, "--init-from",
                                          help="Start from these weights (e.g. for the -adv fine-tuning configs)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for initial weights, sampling and warps."),
    workers: int | None = typer.Option(None, "--workers", help="Data loading processes (0: in the main process)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N (torchrun: one GPU per process)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 (mixed) or fp16 (mixed, CUDA)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Train a FOMM model on your videos (one process, or many with torchrun)."""
    from fomm_cli.errors import SettingsError
    from fomm_cli.train.config import PERCEPTUAL_KINDS
    from fomm_cli.train.trainer import RunOptions, resolve_run_config
    from fomm_cli.train.trainer import train as run_training

    if perceptual is not None and perceptual not in PERCEPTUAL_KINDS:
        raise SettingsError(f"--perceptual must be one of {', '.join(PERCEPTUAL_KINDS)}, not {perceptual!r}")
    if workers is not None and workers < 0:
        raise SettingsError("--workers must be >= 0")
    if resume and overwrite:
        raise SettingsError("--resume and -y/--overwrite exclude each other")
    overrides = {
        "max_steps": max_steps, "num_epochs": epochs, "batch_size": batch_size, "num_repeats": num_repeats,
        "checkpoint_every": checkpoint_every, "keep_checkpoints": keep, "log_every": log_every,
        "visualize_every": visualize_every, "perceptual_loss": perceptual, "seed": seed,
    }
    train_config = resolve_run_config(out, config, data, resume, overrides)
    options = RunOptions(run_dir=out, resume=resume, overwrite=overwrite, workers=workers, device=device,
                         precision=precision, vgg_weights=vgg_weights, init_from=init_from, quiet=as_json)
    summary = run_training(train_config, options)
    if as_json and os.environ.get("RANK", "0") == "0":  # under torchrun, one summary from rank 0
        print_json(asdict(summary))
