"""`fomm train`: parse flags into the job's options, run it, print the summary."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from fomm_cli.cli.common import print_json


def train(
    out: Path = typer.Option(..., "-o", "--out", help="Run folder: config, log, pictures, checkpoints, model/."),
    config: str | None = typer.Option(None, "--config",
                                      help="Official-layout YAML or a preset name (vox-256, taichi-adv-256, ...). "
                                           "Optional with --resume."),
    data: Path | None = typer.Option(None, "--data", help="Dataset root with train/ (and test/) folders."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest checkpoint "
                                                        "that loads."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Start over in a used run folder (refused "
                                                                    "while a run is training in it)."),
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
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps (torchrun: one GPU per "
                                                        "process)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 (mixed) or fp16 (mixed, CUDA)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Train a FOMM model on your videos (one process, or many with torchrun)."""
    from fomm_cli.jobs import train as job
    from fomm_cli.reporting import ConsoleReporter

    options = job.Options(out, config, data, resume, overwrite, max_steps, epochs, batch_size, num_repeats,
                          checkpoint_every, keep, log_every, visualize_every, perceptual, vgg_weights, init_from,
                          seed, workers, device, precision)
    job.check(options)
    summary = job.run(options, ConsoleReporter(notes=not as_json))
    if as_json and os.environ.get("RANK", "0") == "0":  # under torchrun, one summary from rank 0
        print_json(summary.to_json())
