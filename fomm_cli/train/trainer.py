"""The FOMM training loop: one process on CPU or GPU, or many under ``torchrun``.

Per step (as in the reference trainer): keypoints of source, driving and a randomly warped driving frame;
the generator reconstructs the driving frame from the source; the generator and keypoint detector take
one Adam step on perceptual + equivariance (+ LSGAN and feature matching) losses; then, with adversarial
training on, the discriminator takes one step on the detached prediction. Learning rates drop 10x at the
``epoch_milestones``.

Distributed runs use DistributedDataParallel with one process per GPU (``torch.nn.SyncBatchNorm`` on
CUDA; plain per-process batch norm on CPU, where torch has no synchronised kernel), a sharded sampler,
and rank 0 alone writes logs, pictures and checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from fomm_cli.checkpoints import load_model
from fomm_cli.errors import FommError, SettingsError
from fomm_cli.models.generator import GeneratorOutput
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.models.vgg import Vgg19Features
from fomm_cli.pretrained import preset_path
from fomm_cli.progress import Progress
from fomm_cli.train import checkpointing as ckpt
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.data import EpochSampler, PairDataset, make_loader, train_folder
from fomm_cli.train.losses import (
    ImagePyramid,
    Pyramid,
    discriminator_loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    feature_matching_loss,
    generator_gan_loss,
    perceptual_loss,
    pyramid_l1_loss,
)
from fomm_cli.train.transforms import RandomWarp


@dataclass
class RunOptions:
    """How to run (as opposed to what to train, which is the ``TrainConfig``)."""

    run_dir: Path
    resume: bool = False
    overwrite: bool = False
    workers: int | None = None  # None: min(4, half the cores available to this process)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA only; with gradient scaling)
    vgg_weights: Path | None = None
    init_from: Path | None = None
    quiet: bool = False


@dataclass
class TrainSummary:
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


# -- configuration -----------------------------------------------------------------------------------


def resolve_run_config(run_dir: Path, config: str | None, data: Path | None, resume: bool,
                       overrides: dict[str, Any]) -> TrainConfig:
    """The config to train with: the run's saved one when resuming, else ``config``; then ``data`` and
    the ``train_params`` overrides on top. Resuming with ``config`` allows changing training settings but
    not the model."""
    saved_path = run_dir / "config.yaml"
    saved = TrainConfig.from_yaml(saved_path) if resume and saved_path.is_file() else None
    if config is not None:
        result = TrainConfig.from_yaml(preset_path(config))
        if saved is not None and result.model != saved.model:
            raise FommError(f"--config describes a different model than the run in {run_dir}; "
                            "start a new run (another --out) to change the architecture")
        if saved is not None and data is None:
            result.dataset.root_dir = saved.dataset.root_dir
    elif saved is not None:
        result = saved
    else:
        raise SettingsError("--config is required (a YAML file or a preset name) unless resuming a run")
    if data is not None:
        result.dataset.root_dir = str(data)
    if not result.dataset.root_dir:
        raise SettingsError("--data is required (the config names no dataset_params.root_dir)")
    # Absolute, so that a resumed run finds its data from any working directory.
    result.dataset.root_dir = str(Path(result.dataset.root_dir).expanduser().resolve())
    try:
        return result.with_overrides(**overrides)
    except ValueError as err:
        raise SettingsError(str(err)) from None


# -- distributed setup ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup(device_arg: str) -> tuple[Dist, torch.device]:
    """Read torchrun's environment, pick the device, start the process group when there are several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    info = Dist(int(os.environ.get("RANK", "0")), world, local_rank, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if device_arg == "auto":
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    if device_arg.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SettingsError(f"--device {device_arg}: CUDA is not available")
        device = torch.device(device_arg if world == 1 or ":" in device_arg else f"cuda:{local_rank}")
        torch.cuda.set_device(device)
    elif device_arg == "cpu":
        device = torch.device("cpu")
        torch.set_flush_denormal(True)  # random-init nets produce denormals that slow CPU kernels 10x
    else:
        raise SettingsError(f"--device must be auto, cpu or cuda[:N], not {device_arg!r}")
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return info, device


# -- the models and their optimisation ---------------------------------------------------------------


_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--precision`` (None: full precision)."""
    if precision not in _PRECISIONS:
        raise SettingsError(f"--precision must be fp32, bf16 or fp16, not {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise SettingsError("--precision fp16 needs a CUDA device (use bf16 on CPU)")
    return _PRECISIONS[precision]


class Trainer:
    """Owns the model, optimisers, schedulers and loss settings of one process."""

    def __init__(self, config: TrainConfig, device: torch.device, info: Dist, precision: str,
                 vgg_weights: Path | None) -> None:
        self.config = config
        self.device = device
        self.info = info
        t = config.train
        self.weights = t.loss_weights
        torch.manual_seed(t.seed)  # identical initial weights on every rank
        # Channels-last: ~1.25x faster convolutions on CPU in fp32, ~1.9x with bf16 autocast (oneDNN), and the
        # layout tensor cores want on CUDA.
        self.model = FirstOrderModel(config.model, with_discriminator=config.gan).to(
            device, memory_format=torch.channels_last)
        self.train_kp = t.lr_kp_detector != 0
        if not self.train_kp:
            self.model.kp_detector.requires_grad_(False)
        if info.world > 1 and device.type == "cuda":
            self.model.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.model.generator)
            self.model.kp_detector = nn.SyncBatchNorm.convert_sync_batchnorm(self.model.kp_detector)
        self.model.train()

        scales = list(t.scales)
        self.disc_scales = list(config.model.discriminator.scales) if config.gan else []  # type: ignore[union-attr]
        self.pyramid = ImagePyramid(scales + self.disc_scales, config.model.num_channels).to(device)
        self.vgg: Vgg19Features | None = None
        self.vgg_path: Path | None = None
        if t.perceptual_loss == "vgg19" and sum(self.weights.perceptual) != 0:
            from fomm_cli.train.vgg_weights import load_vgg19

            self.vgg, self.vgg_path = load_vgg19(vgg_weights)
            self.vgg.to(device)
        self.equivariance = self.weights.equivariance_value != 0 or self.weights.equivariance_jacobian != 0

        def adam(module: nn.Module, lr: float) -> torch.optim.Optimizer:
            # foreach: one fused kernel per tensor group (the default on CUDA, ~1.5x faster on CPU too)
            return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999), foreach=True)

        self.optimizers: dict[str, torch.optim.Optimizer] = {"generator": adam(self.model.generator, t.lr_generator)}
        if self.train_kp:
            self.optimizers["kp_detector"] = adam(self.model.kp_detector, t.lr_kp_detector)
        if config.gan:
            self.optimizers["discriminator"] = adam(self.model.discriminator, t.lr_discriminator)  # type: ignore[arg-type]
        self.schedulers = {name: torch.optim.lr_scheduler.MultiStepLR(opt, t.epoch_milestones, gamma=0.1)
                           for name, opt in self.optimizers.items()}

        self.amp_dtype = _amp_dtype(precision, device)
        fp16 = self.amp_dtype == torch.float16
        self.scalers = {"generator": torch.amp.GradScaler(device.type, enabled=fp16),
                        "discriminator": torch.amp.GradScaler(device.type, enabled=fp16)}

        # Wrapped for gradient averaging across processes; the plain modules stay reachable via self.model.
        self.kp_detector: nn.Module = self.model.kp_detector
        self.generator: nn.Module = self.model.generator
        self.discriminator: nn.Module | None = self.model.discriminator

    def wrap_distributed(self) -> None:
        """DistributedDataParallel around the trained parts (after weights are loaded: DDP broadcasts)."""
        if self.info.world == 1:
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        self.generator = DDP(self.model.generator, device_ids=ids)
        if self.train_kp:
            self.kp_detector = DDP(self.model.kp_detector, device_ids=ids)
        if self.model.discriminator is not None:
            self.discriminator = DDP(self.model.discriminator, device_ids=ids)

    def autocast(self) -> AbstractContextManager:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- one step ------------------------------------------------------------------------------------

    def step(self, source: torch.Tensor, driving: torch.Tensor) -> StepResult:
        """One generator/keypoint update and (adversarial runs) one discriminator update."""
        source = source.contiguous(memory_format=torch.channels_last)
        driving = driving.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            result = self._generator_losses(source, driving)
        total = sum(result.losses.values())
        for name in ("generator", "kp_detector"):
            if name in self.optimizers:
                self.optimizers[name].zero_grad(set_to_none=True)
        scaler = self.scalers["generator"]
        scaler.scale(total).backward()  # type: ignore[union-attr]
        for name in ("generator", "kp_detector"):
            if name in self.optimizers:
                scaler.step(self.optimizers[name])
        scaler.update()

        if self.discriminator is not None:
            with self.autocast():
                loss = self._discriminator_loss(result)
            optimizer, scaler = self.optimizers["discriminator"], self.scalers["discriminator"]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            result.losses["disc_gan"] = loss.detach()
        return result

    def _generator_losses(self, source: torch.Tensor, driving: torch.Tensor) -> StepResult:
        batch = source.shape[0]
        w, t = self.weights, self.config.train
        warp = None
        images = [source, driving]
        if self.equivariance:
            tp = t.transform_params
            warp = RandomWarp(batch, tp.sigma_affine, tp.sigma_tps, tp.points_tps, device=source.device)
            images.append(warp.warp_image(driving))
        # One detector pass over all frames: one DDP forward per step, and a larger batch.
        kp_all: Keypoints = self.kp_detector(torch.cat(images))
        kp_source, kp_driving = kp_all[:batch], kp_all[batch:2 * batch]
        generated: GeneratorOutput = self.generator(source, kp_driving=kp_driving, kp_source=kp_source)

        real, fake = self.pyramid(driving), self.pyramid(generated.prediction)
        losses: dict[str, torch.Tensor] = {}
        if sum(w.perceptual) != 0:
            if self.vgg is not None:
                losses["perceptual"] = perceptual_loss(self.vgg, fake, real, t.scales, w.perceptual)
            else:
                losses["perceptual"] = pyramid_l1_loss(fake, real, t.scales, sum(w.perceptual))
        if self.discriminator is not None:
            disc = self.model.discriminator
            kp_value = kp_driving.value.detach()
            disc.requires_grad_(False)  # type: ignore[union-attr]  # gradients flow to the generator only
            try:
                d_fake = disc({s: fake[s] for s in self.disc_scales}, kp_value)  # type: ignore[misc]
                with torch.no_grad():
                    d_real = disc({s: real[s] for s in self.disc_scales}, kp_value)  # type: ignore[misc]
            finally:
                disc.requires_grad_(True)  # type: ignore[union-attr]
            losses["gen_gan"] = generator_gan_loss(d_fake, w.generator_gan)
            if sum(w.feature_matching) != 0:
                losses["feature_matching"] = feature_matching_loss(d_fake, d_real, w.feature_matching)
        kp_transformed = None
        if warp is not None:
            kp_transformed = kp_all[2 * batch:]
            if w.equivariance_value != 0:
                losses["equivariance_value"] = equivariance_value_loss(kp_driving, kp_transformed, warp,
                                                                       w.equivariance_value)
            if w.equivariance_jacobian != 0:
                losses["equivariance_jacobian"] = equivariance_jacobian_loss(kp_driving, kp_transformed, warp,
                                                                             w.equivariance_jacobian)
        return StepResult(losses, source, driving, images[2] if warp else None, kp_source, kp_driving,
                          kp_transformed, generated, real, fake)

    def _discriminator_loss(self, result: StepResult) -> torch.Tensor:
        batch = result.source.shape[0]
        pyramid = {s: torch.cat([result.real[s], result.fake[s].detach()]) for s in self.disc_scales}
        kp_value = result.kp_driving.value.detach()
        # Real and fake in one pass (instance norm only: the halves do not mix).
        out = self.discriminator(pyramid, torch.cat([kp_value, kp_value]))  # type: ignore[misc]
        real = {s: ([f[:batch] for f in feats], pred[:batch]) for s, (feats, pred) in out.items()}
        fake = {s: ([f[batch:] for f in feats], pred[batch:]) for s, (feats, pred) in out.items()}
        return discriminator_loss(real, fake, self.weights.discriminator_gan)

    def end_epoch(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()

    def learning_rate(self) -> float:
        return float(self.optimizers["generator"].param_groups[0]["lr"])

    # -- state ------------------------------------------------------------------------------------

    def load_weights(self, weights: dict[str, dict[str, torch.Tensor]], source: str) -> None:
        for name, module in self.model.parts().items():
            if name not in weights:
                if name == "discriminator":
                    continue  # e.g. adversarial fine-tuning of a model trained without a discriminator
                raise FommError(f"{source} has no {name} weights")
            try:
                module.load_state_dict(weights[name])
            except RuntimeError as err:
                raise FommError(f"{source}: {name} weights do not fit this config "
                                f"({str(err).splitlines()[0][:200]})") from None

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for kind, items in (("optimizers", self.optimizers), ("schedulers", self.schedulers),
                            ("scalers", self.scalers)):
            for name, obj in items.items():
                saved = state.get(kind, {}).get(name)
                if saved is not None:
                    obj.load_state_dict(saved)  # type: ignore[attr-defined]


@dataclass
class StepResult:
    losses: dict[str, torch.Tensor]
    source: torch.Tensor
    driving: torch.Tensor
    transformed: torch.Tensor | None
    kp_source: Keypoints
    kp_driving: Keypoints
    kp_transformed: Keypoints | None
    generated: GeneratorOutput
    real: Pyramid
    fake: Pyramid


# -- the loop ---------------------------------------------------------------------------------------


def _rng_state(device: torch.device) -> dict[str, torch.Tensor | None]:
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng_state(state: dict[str, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])  # type: ignore[arg-type]
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)  # type: ignore[arg-type]


@contextmanager
def _stop_on_signals() -> Iterator[list[bool]]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step; a second one aborts."""
    flag = [False]
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous.clear()
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def note(message: str, quiet: bool) -> None:
    """A status line on stderr (stdout is kept for --json)."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _default_workers(info: Dist) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, max(1, cores // max(1, info.local_world) // 2))


_SHORT_NAMES = {"perceptual": "perc", "equivariance_value": "eq_v", "equivariance_jacobian": "eq_j",
                "gen_gan": "g_gan", "feature_matching": "fm", "disc_gan": "d_gan"}


def _loss_line(losses: dict[str, float]) -> str:
    """Losses short enough for the progress bar (the full names are in log.jsonl)."""
    return " ".join(f"{_SHORT_NAMES.get(k, k)} {v:.3g}" for k, v in losses.items())


def train(config: TrainConfig, options: RunOptions) -> TrainSummary:
    """Train (or resume) in ``options.run_dir``; see the module docstring. Returns what happened."""
    info, device = _setup(options.device)
    try:
        return _train(config, options, info, device)
    finally:
        if info.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, options: RunOptions, info: Dist, device: torch.device) -> TrainSummary:
    run_dir = options.run_dir
    quiet = options.quiet or not info.main
    t = config.train
    # Everything that can fail on bad input comes before the run folder is touched (-y clears it).
    trainer = Trainer(config, device, info, options.precision, options.vgg_weights)
    if trainer.vgg is not None:
        note(f"perceptual loss: VGG-19 weights from {trainer.vgg_path}", quiet)
    dataset = PairDataset(train_folder(Path(config.dataset.root_dir)), config.dataset.frame_shape,  # type: ignore[arg-type]
                          config.dataset.id_sampling, config.dataset.augmentation_params, seed=t.seed)
    sampler = EpochSampler(len(dataset), t.num_repeats, t.batch_size, t.seed, info.rank, info.world)
    init_source = load_model(options.init_from, with_discriminator=True) if options.init_from else None
    if init_source is not None and not isinstance(init_source, FirstOrderModel):
        raise FommError(f"{options.init_from} holds a TPSMM model: FOMM training cannot start from it")
    lock = None
    if info.main:
        ckpt.prepare_run_dir(run_dir, options.resume, options.overwrite)
        lock = ckpt.lock_run_dir(run_dir)
    if info.world > 1:
        dist.barrier()
    try:
        return _run(config, options, info, device, trainer, dataset, sampler, init_source)
    finally:
        if lock is not None:
            lock.close()


def _restore(trainer: Trainer, options: RunOptions, info: Dist, device: torch.device,
             init_source: FirstOrderModel | None, quiet: bool) -> tuple[Path | None, dict[str, Any]]:
    """Load the newest checkpoint (``--resume``) or the ``--init-from`` weights, restore the RNG, and wrap
    for DDP. Returns the checkpoint used and its training state (empty for a fresh start)."""
    seed = trainer.config.train.seed
    last = ckpt.latest_checkpoint(options.run_dir) if options.resume else None
    state: dict[str, Any] = {}
    if last is not None:
        weights, state = ckpt.load_checkpoint(last)
        trainer.load_weights(weights, str(last))
        trainer.load_state_dict(state)
        note(f"resuming {options.run_dir} from step {state['step']} (epoch {state['epoch']})", quiet)
    elif options.resume:
        note(f"no checkpoint in {options.run_dir}: starting from step 0", quiet)
    if last is None and init_source is not None:
        trainer.load_weights({k: m.state_dict() for k, m in init_source.parts().items()}, str(options.init_from))
        note(f"initialised from {options.init_from}", quiet)
    trainer.wrap_distributed()
    if state and int(state.get("world_size", 1)) == info.world:
        _set_rng_state(state["rng"][info.rank], device)
    else:  # distinct random warps per rank (and per resume step when the process count changed)
        torch.manual_seed(seed * 1_000_003 + info.rank + 1 + int(state.get("step", 0)))
    return last, state


def _run(config: TrainConfig, options: RunOptions, info: Dist, device: torch.device, trainer: Trainer,
         dataset: PairDataset, sampler: EpochSampler, init_source: FirstOrderModel | None) -> TrainSummary:
    """Resume or start, then loop (the run folder is prepared and locked)."""
    run_dir = options.run_dir
    quiet = options.quiet or not info.main
    t = config.train
    last, state = _restore(trainer, options, info, device, init_source, quiet)
    step, epoch, epoch_samples = (int(state.get(k, 0)) for k in ("step", "epoch", "epoch_samples"))
    resumed_from = step if last is not None else None

    if info.main:
        ckpt.write_text_atomic(run_dir / "config.yaml", config.to_yaml())
        ckpt.truncate_log(run_dir / "log.jsonl", step)
        (run_dir / "visuals").mkdir(exist_ok=True)

    # Continue the interrupted epoch where it stopped (a changed batch size keeps the sample position).
    global_batch = t.batch_size * info.world
    steps_per_epoch = sampler.steps_per_epoch
    epoch_step = epoch_samples // global_batch
    if epoch_step >= steps_per_epoch:
        epoch, epoch_step = epoch + 1, 0
    sampler.start_epoch, sampler.start_batch = epoch, epoch_step
    end_step = step + max(0, (t.num_epochs - epoch) * steps_per_epoch - epoch_step)
    if t.max_steps is not None:
        end_step = min(end_step, t.max_steps)
    workers = _default_workers(info) if options.workers is None else options.workers
    loader = make_loader(dataset, sampler, workers, pin_memory=device.type == "cuda")

    summary = TrainSummary(str(run_dir), step, epoch, resumed_from, None, None,
                           vgg_weights=str(trainer.vgg_path) if trainer.vgg is not None else None)
    note(f"training {run_dir}: steps {step} -> {end_step}, {steps_per_epoch} steps per epoch, "
         f"{len(dataset)} {'identities' if config.dataset.id_sampling else 'videos'}, "
         f"batch {t.batch_size} x {info.world} process(es) on {device}", quiet)
    if step >= end_step:
        summary.checkpoint = str(last) if last else None
        summary.model = str(run_dir / "model") if (run_dir / "model").is_dir() else None
        return summary

    log_file = open(run_dir / "log.jsonl", "a") if info.main else None  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    interval_start, interval_steps = started, 0
    session_steps = 0
    saved_step = -1
    try:
        with _stop_on_signals() as stop, Progress("train", end_step, quiet) as bar:
            bar.advance(step)
            batches = iter(loader)
            while step < end_step:
                batch = _next_batch(batches)
                source = batch["source"].to(device, non_blocking=True).float().div_(255)
                driving = batch["driving"].to(device, non_blocking=True).float().div_(255)
                result = trainer.step(source, driving)
                step += 1
                session_steps += 1
                interval_steps += 1
                epoch_step += 1
                epoch_done = epoch_step == steps_per_epoch
                if epoch_done:
                    trainer.end_epoch()
                    epoch, epoch_step = epoch + 1, 0

                stopping = _agree(stop[0], info, device)
                last_step = step == end_step or stopping
                if step % t.log_every == 0 or last_step:
                    now = time.perf_counter()
                    record = _log_record(result, trainer, info, device, step, epoch,
                                         (now - interval_start) / interval_steps)
                    interval_start, interval_steps = now, 0
                    summary.losses = {k: v for k, v in record.items()
                                      if k not in ("step", "epoch", "lr", "sec_per_step")}
                    if log_file is not None:
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                    bar.advance(1, _loss_line({k: record[k] for k in result.losses}))
                else:
                    bar.advance(1)
                if info.main and (step % t.visualize_every == 0 or last_step):
                    _save_visual(run_dir, step, result, config)
                pinned = epoch_done and epoch % t.checkpoint_freq == 0
                if step % t.checkpoint_every == 0 or last_step or pinned:
                    path = _checkpoint(trainer, info, device, run_dir, step, epoch, epoch_step * global_batch,
                                       pinned)
                    saved_step = step
                    summary.checkpoint = str(path)
                if stopping:
                    note(f"stopped at step {step}; checkpoint saved: continue with --resume", quiet)
                    raise KeyboardInterrupt
    finally:
        if log_file is not None:
            log_file.close()
        if saved_step != step and info.main:
            last_saved = saved_step if saved_step >= 0 else resumed_from
            note(f"run ended at step {step}; "
                 + (f"last checkpoint: step {last_saved}" if last_saved is not None else "no checkpoint saved"), quiet)
    seconds = time.perf_counter() - started
    summary.steps, summary.epoch, summary.seconds = step, epoch, round(seconds, 3)
    summary.sec_per_step = round(seconds / session_steps, 4) if session_steps else None
    summary.model = str(run_dir / "model")
    note(f"done: {step} steps, {summary.sec_per_step} s/step; weights in {summary.model}", quiet)
    return summary


def _next_batch(batches: Iterator[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    try:
        return next(batches)
    except FommError as err:
        # Errors from worker processes arrive with the worker's traceback in the message: keep the last line.
        last = str(err).strip().splitlines()[-1] if str(err).strip() else "data loading failed"
        raise FommError(last.removeprefix("fomm_cli.errors.FommError: ")) from None


def _agree(flag: bool, info: Dist, device: torch.device) -> bool:
    """Whether any process was asked to stop (all processes must stop at the same step)."""
    if info.world == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _log_record(result: StepResult, trainer: Trainer, info: Dist, device: torch.device, step: int, epoch: int,
                sec_per_step: float) -> dict[str, Any]:
    """Losses averaged over processes, the unweighted reconstruction L1, the learning rate, the speed."""
    names = list(result.losses)
    with torch.no_grad():
        rec_l1 = (result.generated.prediction.float() - result.driving).abs().mean()
        values = torch.stack([result.losses[n].detach().float() for n in names] + [rec_l1])
    if info.world > 1:
        dist.all_reduce(values)
        values /= info.world
    numbers = [float(v) for v in values.cpu()]
    record: dict[str, Any] = {"step": step, "epoch": epoch}
    record.update({n: round(v, 6) for n, v in zip(names, numbers, strict=False)})
    record["total"] = round(sum(v for n, v in zip(names, numbers, strict=False) if n != "disc_gan"), 6)
    record["rec_l1"] = round(numbers[-1], 6)
    record["lr"] = trainer.learning_rate()
    record["sec_per_step"] = round(sec_per_step, 4)
    if not all(math.isfinite(v) for v in numbers):
        raise FommError(f"training diverged at step {step} (non-finite loss: {record}); lower the learning "
                        "rates or resume from an earlier checkpoint")
    return record


def _save_visual(run_dir: Path, step: int, result: StepResult, config: TrainConfig) -> None:
    from fomm_cli.media.image import write_image
    from fomm_cli.train.visualize import training_grid

    gen = result.generated
    columns: list[tuple[torch.Tensor, torch.Tensor | None]] = [
        (result.source, result.kp_source.value), (result.driving, result.kp_driving.value)]
    if result.transformed is not None and result.kp_transformed is not None:
        columns.append((result.transformed, result.kp_transformed.value))
    if gen.deformed is not None:
        columns.append((gen.deformed, None))
    columns.append((gen.prediction, None))
    if gen.motion is not None and gen.motion.occlusion_map is not None:
        columns.append((gen.motion.occlusion_map, None))
    write_image(run_dir / "visuals" / f"{ckpt.checkpoint_name(step)}.png", training_grid(columns, config.visualizer))


def _checkpoint(trainer: Trainer, info: Dist, device: torch.device, run_dir: Path, step: int, epoch: int,
                epoch_samples: int, pinned: bool) -> Path:
    """Gather every process's RNG state, then rank 0 writes the checkpoint."""
    rng = [_rng_state(device)]
    if info.world > 1:
        rng = [None] * info.world  # type: ignore[list-item]
        dist.all_gather_object(rng, {k: v.cpu() if v is not None else None for k, v in _rng_state(device).items()})
    path = run_dir / "checkpoints" / ckpt.checkpoint_name(step)
    if info.main:
        state = {"format": 1, "step": step, "epoch": epoch, "epoch_samples": epoch_samples,
                 "world_size": info.world, "seed": trainer.config.train.seed, "rng": rng, **trainer.state_dict()}
        ckpt.save_checkpoint(run_dir, step, trainer.model, state, trainer.config.train.keep_checkpoints, pinned)
    return path

