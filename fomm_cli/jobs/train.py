"""`fomm train`: self-supervised training of a model in a run folder (fresh, resumed or started over).

One process on CPU or GPU, or one per GPU under ``torchrun`` (every process runs this job; only rank 0
touches the run folder and reports).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fomm_cli.devices import check_device_name
from fomm_cli.errors import ConflictingSettings, InputNotFound, InvalidSetting, MissingSetting
from fomm_cli.reporting import Reporter
from fomm_cli.train.config import PERCEPTUAL_KINDS, PRECISIONS

# Options that override ``train_params`` keys of the config, and the keys they set.
OVERRIDES = {"max_steps": "max_steps", "epochs": "num_epochs", "batch_size": "batch_size",
             "num_repeats": "num_repeats", "checkpoint_every": "checkpoint_every", "keep": "keep_checkpoints",
             "log_every": "log_every", "visualize_every": "visualize_every", "perceptual": "perceptual_loss",
             "seed": "seed"}


@dataclass(frozen=True)
class Options:
    """``config``: an official-layout YAML or a preset name (optional when resuming: the run's own);
    ``data``: the dataset root with ``train/`` (default: the config's ``dataset_params.root_dir``). The
    options from ``max_steps`` to ``seed`` override ``train_params`` of the config (``train_avd_params``
    with ``avd``; None: keep it). ``avd``: train the AVD network of the TPSMM in ``init_from``."""

    out: Path
    config: str | None = None
    data: Path | None = None
    resume: bool = False
    overwrite: bool = False
    max_steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    num_repeats: int | None = None
    checkpoint_every: int | None = None
    keep: int | None = None
    log_every: int | None = None
    visualize_every: int | None = None
    perceptual: str | None = None
    vgg_weights: Path | None = None
    init_from: Path | None = None
    avd: bool = False
    seed: int | None = None
    workers: int | None = None
    device: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.resume and self.overwrite:
            raise ConflictingSettings(("resume", "overwrite"), "resuming keeps the run, starting over deletes it")
        for name in ("max_steps", "epochs", "batch_size", "num_repeats", "checkpoint_every", "keep", "log_every",
                     "visualize_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidSetting(name, value, "at least 1")
        if self.workers is not None and self.workers < 0:
            raise InvalidSetting("workers", self.workers, "0 or more")
        if self.seed is not None and self.seed < 0:
            raise InvalidSetting("seed", self.seed, "0 or more")
        if self.perceptual is not None and self.perceptual not in PERCEPTUAL_KINDS:
            raise InvalidSetting("perceptual", self.perceptual, " or ".join(PERCEPTUAL_KINDS))
        if self.precision not in PRECISIONS:
            raise InvalidSetting("precision", self.precision, ", ".join(PRECISIONS[:-1]) + " or " + PRECISIONS[-1])
        if self.avd and self.init_from is None and not self.resume:
            raise MissingSetting("init_from", "AVD training starts from a trained TPSMM")
        if self.avd and self.perceptual is not None:
            raise ConflictingSettings(("perceptual", "avd"), "the AVD network is trained on keypoints alone")
        check_device_name(self.device)

    def overrides(self) -> dict[str, Any]:
        """The ``train_params`` values these options set."""
        return {key: getattr(self, name) for name, key in OVERRIDES.items() if getattr(self, name) is not None}


@dataclass
class Summary:
    run_dir: str
    steps: int
    epoch: int
    resumed_from: int | None
    checkpoint: str | None
    model: str | None
    losses: dict[str, float] = field(default_factory=dict)
    vgg_weights: str | None = None  # the ImageNet weights file of the perceptual loss
    seconds: float = 0.0
    sec_per_step: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def main_process() -> bool:
    """Rank 0 under torchrun (or the only process): the one that owns the run folder."""
    return os.environ.get("RANK", "0") == "0"


def check(options: Options) -> None:
    """Paths exist and the run folder may be used (not a file, not held by a live run, not a finished run
    without resume or overwrite), before torch is imported."""
    for path, what in ((options.data, "dataset"), (options.vgg_weights, "VGG-19 weights file"),
                       (options.init_from, "initial weights")):
        if path is not None and not path.exists():
            raise InputNotFound(path, what)
    if options.config is not None and options.config.endswith((".yaml", ".yml")) and not Path(options.config).is_file():
        raise InputNotFound(options.config, "config")
    if main_process():
        from fomm_cli.train import run_folder

        run_folder.check(options.out, options.resume, options.overwrite)


def run(options: Options, reporter: Reporter | None = None) -> Summary:
    reporter = reporter or Reporter()
    check(options)
    import torch

    from fomm_cli.train import loop, run_folder
    from fomm_cli.train.families import STEPS

    # Random-weight networks produce denormals that slow CPU kernels 10x; a process-wide setting, so here.
    torch.set_flush_denormal(True)
    config = run_folder.resolve_config(options.out, options.config, options.data, options.resume,
                                       options.overrides(), options.avd)
    vgg_weights = None
    if config.perceptual_vgg19:
        from fomm_cli.train.vgg_weights import find_vgg19_weights

        vgg_weights = find_vgg19_weights(options.vgg_weights, reporter)
    settings = loop.RunSettings(options.out, options.resume, options.overwrite, options.workers, options.device,
                                options.precision, vgg_weights, options.init_from)
    result = loop.train(config, settings, STEPS[config.model.family], reporter)
    model = options.out / "model"
    return Summary(str(options.out), result.steps, result.epoch, result.resumed_from,
                   str(result.checkpoint) if result.checkpoint is not None else None,
                   str(model) if model.is_dir() else None, result.losses,
                   str(vgg_weights) if vgg_weights is not None else None, result.seconds, result.sec_per_step,
                   list(reporter.warnings))
