"""The training loop: one process on CPU or GPU, or many under ``torchrun``; any model family's step.

Start: build the step and the data (everything that can fail on bad input), take the run folder's lock,
only then clear or write it; resume from the newest checkpoint that loads. Then step through epochs of
batches, log, draw, checkpoint (atomically, with every process's random state) and stop cleanly on
SIGINT/SIGTERM after the current step, with a checkpoint.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fomm_cli.datasets import split_folder
from fomm_cli.errors import CheckpointError, FommError, Interrupted, last_line
from fomm_cli.fsutil import write_bytes_atomic
from fomm_cli.reporting import Reporter
from fomm_cli.train import checkpointing, distributed, run_folder
from fomm_cli.train.data import EpochSampler, PairDataset, make_loader
from fomm_cli.train.distributed import Dist
from fomm_cli.train.logbook import Logbook, loss_line, losses_of, record
from fomm_cli.train.step import LoopConfig, StepFactory, TrainingStep

STATE_FORMAT = 2  # training_state.pt layout: format 2 keeps one warp-generator state per process


@dataclass(frozen=True)
class RunSettings:
    """How to run (as opposed to what to train, which is the family's training config)."""

    run_dir: Path
    resume: bool = False
    overwrite: bool = False
    workers: int | None = None  # None: min(4, half the cores available to this process)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA only; with gradient scaling)
    vgg_weights: Path | None = None
    init_from: Path | None = None


@dataclass
class TrainResult:
    steps: int
    epoch: int
    resumed_from: int | None
    checkpoint: Path | None
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    sec_per_step: float | None = None


def train(config: LoopConfig, settings: RunSettings, make_step: StepFactory, reporter: Reporter) -> TrainResult:
    """Train (or resume) in ``settings.run_dir``; see the module docstring. Only rank 0 reports."""
    info = distributed.from_environment()
    device = distributed.training_device(settings.device, info)
    distributed.start(info, device)
    try:
        return _train(config, settings, make_step, info, device, reporter if info.main else Reporter())
    finally:
        distributed.stop(info)


def _train(config: LoopConfig, settings: RunSettings, make_step: StepFactory, info: Dist, device: torch.device,
           reporter: Reporter) -> TrainResult:
    t = config.train
    rng = torch.Generator()  # the step's random draws (equivariance warps); saved in checkpoints
    step = make_step(config, device, info, settings.precision, settings.vgg_weights, rng, reporter)
    if settings.init_from is not None:
        step.load_weights(settings.init_from)
        reporter.note(f"initialised from {settings.init_from}")
    dataset = PairDataset(split_folder(str(config.dataset.root_dir), "train"), config.dataset.frame_shape,
                          config.dataset.id_sampling, config.dataset.augmentation_params, seed=t.seed)
    sampler = EpochSampler(len(dataset), t.num_repeats, t.batch_size, t.seed, info.rank, info.world)
    run_dir = settings.run_dir
    lock = None
    if info.main:  # the lock first: nothing is deleted or written in a folder another run holds
        lock = run_folder.lock(run_dir)
    try:
        if info.main:
            run_folder.prepare(run_dir, settings.resume, settings.overwrite)
        distributed.barrier(info)
        return _run(config, settings, step, rng, info, device, dataset, sampler, reporter)
    finally:
        if lock is not None:
            lock.close()


def _restore(step: TrainingStep, rng: torch.Generator, settings: RunSettings, info: Dist, seed: int,
             reporter: Reporter) -> tuple[Path | None, dict[str, Any]]:
    """Resume from the newest checkpoint that loads; seed the process's generator. Returns the checkpoint
    used and its training state (empty for a fresh start)."""
    found = None
    if settings.resume:
        def restore(path: Path, state: dict[str, Any]) -> None:
            try:
                step.load_weights(path)
                step.load_state_dict(state)
            except (KeyError, TypeError, ValueError, RuntimeError) as err:
                raise CheckpointError(path, f"does not fit this run ({last_line(str(err))})") from None

        found = checkpointing.restore_newest(settings.run_dir, restore, reporter)
        if found is None:
            reporter.note(f"no checkpoint in {settings.run_dir}: starting from step 0")
    path, state = found if found is not None else (None, {})
    if path is not None:
        reporter.note(f"resuming {settings.run_dir} from step {state['step']} (epoch {state['epoch']})")
    step.distribute()
    if state.get("format") == STATE_FORMAT and int(state["world_size"]) == info.world:
        rng.set_state(state["rng"][info.rank])
    else:  # distinct warps per process (and per resume step when the process count changed)
        rng.manual_seed(seed * 1_000_003 + info.rank + 1 + int(state.get("step", 0)))
    return path, state


def _default_workers(info: Dist) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, max(1, cores // max(1, info.local_world) // 2))


def _run(config: LoopConfig, settings: RunSettings, step: TrainingStep, rng: torch.Generator, info: Dist,
         device: torch.device, dataset: PairDataset, sampler: EpochSampler, reporter: Reporter) -> TrainResult:
    """Resume or start, then loop (the run folder is prepared and locked)."""
    run_dir, t = settings.run_dir, config.train
    last, state = _restore(step, rng, settings, info, t.seed, reporter)
    current, epoch, epoch_samples = (int(state.get(k, 0)) for k in ("step", "epoch", "epoch_samples"))
    resumed_from = current if last is not None else None
    logbook = None
    if info.main:
        write_bytes_atomic(run_dir / "config.yaml", config.to_yaml().encode())
        run_folder.truncate_log(run_dir / "log.jsonl", current)
        logbook = Logbook(run_dir, config.visualizer, run_folder.read_log(run_dir / "log.jsonl"))

    # Continue the interrupted epoch where it stopped (a changed batch size keeps the sample position).
    global_batch = t.batch_size * info.world
    steps_per_epoch = sampler.steps_per_epoch
    epoch_step = epoch_samples // global_batch
    if epoch_step >= steps_per_epoch:
        epoch, epoch_step = epoch + 1, 0
    sampler.start_epoch, sampler.start_batch = epoch, epoch_step
    end_step = current + max(0, (t.num_epochs - epoch) * steps_per_epoch - epoch_step)
    if t.max_steps is not None:
        end_step = min(end_step, t.max_steps)
    workers = _default_workers(info) if settings.workers is None else settings.workers
    result = TrainResult(current, epoch, resumed_from, last)
    reporter.note(f"training {run_dir}: steps {current} -> {end_step}, {steps_per_epoch} steps per epoch, "
                  f"{len(dataset)} {'identities' if config.dataset.id_sampling else 'videos'}, "
                  f"batch {t.batch_size} x {info.world} process(es) on {device}")
    if current >= end_step:
        if logbook is not None:
            logbook.close()
        return result

    loader = make_loader(dataset, sampler, workers, pin_memory=device.type == "cuda")
    started = time.perf_counter()
    interval_start, interval_steps, session_steps, saved_step = started, 0, 0, -1
    try:
        with _stop_on_signals() as stop, reporter.progress("train", end_step) as bar:
            bar.advance(current)
            batches = iter(loader)
            while current < end_step:
                batch = _next_batch(batches)
                source = batch["source"].to(device, non_blocking=True).float().div_(255)
                driving = batch["driving"].to(device, non_blocking=True).float().div_(255)
                out = step(source, driving)
                current, session_steps, interval_steps, epoch_step = (current + 1, session_steps + 1,
                                                                      interval_steps + 1, epoch_step + 1)
                epoch_done = epoch_step == steps_per_epoch
                if epoch_done:
                    step.end_epoch()
                    epoch, epoch_step = epoch + 1, 0
                stopping = distributed.any_process(stop[0] is not None, info, device)
                last_step = current == end_step or stopping
                if current % t.log_every == 0 or last_step:
                    now = time.perf_counter()
                    line = record(out, info, current, epoch, step.learning_rate(),
                                  (now - interval_start) / interval_steps)
                    interval_start, interval_steps = now, 0
                    result.losses = losses_of(line)
                    if logbook is not None:
                        logbook.write(line)
                    bar.advance(1, loss_line(line))
                else:
                    bar.advance(1)
                if logbook is not None and (current % t.visualize_every == 0 or last_step):
                    logbook.picture(current, out)
                pinned = epoch_done and epoch % t.checkpoint_freq == 0
                if current % t.checkpoint_every == 0 or last_step or pinned:
                    result.checkpoint = _checkpoint(step, rng, info, run_dir, current, epoch,
                                                    epoch_step * global_batch, t.keep_checkpoints, pinned, t.seed)
                    saved_step = current
                if stopping:
                    reporter.note(f"stopped at step {current}; checkpoint saved: resume the run to continue")
                    raise Interrupted(stop[0] or signal.SIGTERM)
    finally:
        if logbook is not None:
            logbook.close()
        if saved_step != current and info.main:
            last_saved = saved_step if saved_step >= 0 else resumed_from
            reporter.note(f"run ended at step {current}; " + (f"last checkpoint: step {last_saved}"
                          if last_saved is not None else "no checkpoint saved"))
    seconds = time.perf_counter() - started
    result.steps, result.epoch, result.seconds = current, epoch, round(seconds, 3)
    result.sec_per_step = round(seconds / session_steps, 4) if session_steps else None
    return result


@contextmanager
def _stop_on_signals() -> Iterator[list[int | None]]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step (``[signal number]``); a
    second one stops at once."""
    flag: list[int | None] = [None]
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        if flag[0] is not None:
            raise Interrupted(signum)
        flag[0] = signum

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous.clear()
    try:
        yield flag
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _next_batch(batches: Iterator[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    try:
        return next(batches)
    except FommError as err:
        # Errors from worker processes arrive with the worker's traceback in the message: keep the last line.
        raise FommError(last_line(str(err), "data loading failed").removeprefix("fomm_cli.errors.FommError: ")
                        ) from None


def _checkpoint(step: TrainingStep, rng: torch.Generator, info: Dist, run_dir: Path, current: int, epoch: int,
                epoch_samples: int, keep: int, pinned: bool, seed: int) -> Path:
    """Gather every process's generator state, then rank 0 writes the checkpoint."""
    states = distributed.gather(rng.get_state(), info)
    path = run_dir / "checkpoints" / checkpointing.checkpoint_name(current)
    if info.main:
        state = {"format": STATE_FORMAT, "step": current, "epoch": epoch, "epoch_samples": epoch_samples,
                 "world_size": info.world, "seed": seed, "rng": states, **step.state_dict()}
        checkpointing.save_checkpoint(run_dir, current, step.save_weights, state, keep, pinned)
    return path
