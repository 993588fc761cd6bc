"""`fomm train`: flags -> ``jobs.train.Options`` -> run -> one line (or JSON, from rank 0 under torchrun)."""

from __future__ import annotations

from fomm_cli.cli.common import JSON_FLAG, finish
from fomm_cli.cli.options import Flag, command
from fomm_cli.jobs.train import Options

FLAGS = {
    "out": Flag(("-o", "--out"), "Run folder: config, log, pictures, checkpoints, model/.", default=...),
    "config": Flag(("--config",), "Official-layout YAML or a preset name (vox-256, taichi-adv-256, demo, "
                                  "tpsmm-vox-256, ...). Optional with --resume."),
    "data": Flag(("--data",), "Dataset root with train/ (and test/) folders."),
    "resume": Flag(("--resume",), "Continue the run in --out from its newest checkpoint that loads."),
    "overwrite": Flag(("-y", "--overwrite"), "Start over in a used run folder (refused while a run is training in "
                                             "it)."),
    "max_steps": Flag(("--max-steps",), "Stop at this global step."),
    "epochs": Flag(("--epochs",), "Override train_params.num_epochs."),
    "batch_size": Flag(("--batch-size",), "Per-process batch size."),
    "num_repeats": Flag(("--num-repeats",), "Override train_params.num_repeats."),
    "checkpoint_every": Flag(("--checkpoint-every",), "Steps between checkpoints."),
    "keep": Flag(("--keep",), "Rolling checkpoints to keep."),
    "log_every": Flag(("--log-every",), "Steps between log.jsonl lines."),
    "visualize_every": Flag(("--visualize-every",), "Steps between visuals/*.png (and losses.png)."),
    "perceptual": Flag(("--perceptual",), "vgg19 (ImageNet VGG-19 features) or l1 (pixel pyramid)."),
    "vgg_weights": Flag(("--vgg-weights",), "VGG-19 weights file (timm model.safetensors or torchvision .pth)."),
    "init_from": Flag(("--init-from",), "Start from these weights (e.g. for the -adv fine-tuning configs)."),
    "avd": Flag(("--avd",), "Train the AVD network of the TPSMM in --init-from (train_avd_params of the config), "
                            "as the reference train_avd.py."),
    "seed": Flag(("--seed",), "Seed for initial weights, sampling and warps."),
    "workers": Flag(("--workers",), "Data loading processes (0: in the main process)."),
    "device": Flag(("--device",), "auto, cpu, cuda, cuda:N or mps (torchrun: one GPU per process)."),
    "precision": Flag(("--precision",), "fp32, bf16 (mixed) or fp16 (mixed, CUDA)."),
}


def _train(options: Options, as_json: bool) -> None:
    """Train a FOMM or TPSMM model on your videos (one process, or many with torchrun)."""
    from fomm_cli.jobs.train import check, main_process, run
    from fomm_cli.reporting import Reporter

    check(options)  # paths and the run folder before torch loads
    if not main_process():  # under torchrun, rank 0 alone reports
        run(options, Reporter())
        return
    finish(run, options, as_json, lambda s: f"trained {s.run_dir}: step {s.steps}, epoch {s.epoch}"
           + (f" (resumed from step {s.resumed_from})" if s.resumed_from is not None else "")
           + (f", {s.sec_per_step} s/step" if s.sec_per_step else "") + f"; weights in {s.model}")


train = command(Options, FLAGS, _train, extra=JSON_FLAG)
