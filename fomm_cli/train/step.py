"""What the training loop needs from a model family: one optimisation step, and its state.

The loop (``loop.py``) reads batches, logs, draws pictures and writes checkpoints; it knows nothing of
keypoints, generators or discriminators. A model family plugs in by giving the loop a ``StepFactory``
that builds its ``TrainingStep`` (FOMM's is ``families.build_fomm_step``, registered in ``families.STEPS``
under ``config.model.family``). Of the config, the loop reads only ``dataset``, the loop settings of ``train``
(``LoopConfig``), ``visualizer`` and ``to_yaml()``; the rest is the family's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn

from fomm_cli.errors import CheckpointError
from fomm_cli.reporting import Reporter
from fomm_cli.train.config import DatasetConfig, VisualizerParams
from fomm_cli.train.distributed import Dist

# One column of the training picture: images B x C x h x w in [0, 1] (C = 1 or 3) and, optionally, keypoints
# B x K x 2 in [-1, 1] drawn on them.
Column = tuple[torch.Tensor, torch.Tensor | None]


class LoopParams(Protocol):
    """The settings of a config's ``train`` block that the loop reads."""

    num_epochs: int
    num_repeats: int
    batch_size: int
    checkpoint_freq: int  # epochs between checkpoints kept for good
    max_steps: int | None
    checkpoint_every: int
    keep_checkpoints: int
    log_every: int
    visualize_every: int
    seed: int


class LoopConfig(Protocol):
    """What the loop reads of a family's training config."""

    dataset: DatasetConfig
    visualizer: VisualizerParams

    @property
    def train(self) -> LoopParams: ...

    def to_yaml(self) -> str: ...


@dataclass
class StepOutput:
    """What one step did. ``losses``: every weighted term, detached float32 scalars (as logged);
    ``total``: the sum the main model minimised; ``prediction``: the reconstruction of ``target``
    (both B x C x H x W in [0, 1]; None for a step that renders no frames); ``columns``: the training
    picture, left to right."""

    losses: dict[str, torch.Tensor]
    total: torch.Tensor
    prediction: torch.Tensor | None
    target: torch.Tensor | None
    columns: list[Column]


class TrainingStep(Protocol):
    """One process's model, optimisers and losses."""

    def __call__(self, source: torch.Tensor, driving: torch.Tensor) -> StepOutput:
        """One update from a batch of frame pairs (B x C x H x W in [0, 1], on the step's device)."""
        ...

    def end_epoch(self) -> None:
        """Advance the learning-rate schedules."""
        ...

    def learning_rate(self) -> float:
        """The main model's current learning rate (for the log)."""
        ...

    def distribute(self) -> None:
        """Wrap the trained modules for multi-process training (after weights are loaded)."""
        ...

    def save_weights(self, folder: Path) -> None:
        """Write the model into ``folder`` (``model.safetensors`` + ``config.json``)."""
        ...

    def load_weights(self, path: Path) -> None:
        """Weights from a checkpoint folder of this run, or from any model file the family reads."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, schedule and gradient-scaler state (the same on every process)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# Builds a family's step: (the family's config, device, processes, precision, VGG-19 weights file or None, the
# generator its random draws come from, reporter) -> step. Model weights are initialised from ``config.train.seed``.
StepFactory = Callable[[Any, torch.device, Dist, str, Path | None, torch.Generator, Reporter], TrainingStep]


# -- what the families' steps share ---------------------------------------------------------------------------

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def channels_last(model: ModuleT) -> ModuleT:
    """Convolution weights in channels-last layout, as ``Module.to(memory_format=...)`` leaves them: faster
    convolutions on CPU (oneDNN) and the layout tensor cores want on CUDA."""
    for parameter in model.parameters():
        if parameter.dim() == 4:
            # empty_like sets the canonical channels-last strides even where both layouts fit (1 x 1 kernels),
            # where ``contiguous`` would keep the old ones: gradients come with the canonical strides, and DDP's
            # buckets take a parameter's strides.
            data = torch.empty_like(parameter.data, memory_format=torch.channels_last)
            parameter.data = data.copy_(parameter.data)
    for buffer in model.buffers():
        if buffer.dim() == 4:
            buffer.data = buffer.data.contiguous(memory_format=torch.channels_last)
    return model


def ddp(module: nn.Module, device: torch.device, world: int) -> nn.Module:
    """``module`` wrapped for training in ``world`` processes on ``device`` (as it is for one process)."""
    if world == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def load_parts(parts: Mapping[str, nn.Module], states: Mapping[str, Mapping[str, torch.Tensor]], path: Path,
               optional: Collection[str] = ()) -> None:
    """Each part's weights from ``states`` (read from ``path``); parts in ``optional`` stay as they are when
    ``states`` lacks them. A missing or misfitting part is a ``CheckpointError`` naming it."""
    for name, module in parts.items():
        if name not in states:
            if name in optional:
                continue
            raise CheckpointError(path, "no weights for this part", name)
        try:
            module.load_state_dict(states[name])
        except RuntimeError as err:
            raise CheckpointError(path, f"weights do not fit this config ({str(err).splitlines()[0]})",
                                  name) from None


def optimisation_state(optimizers: Mapping[str, torch.optim.Optimizer],
                       schedulers: Mapping[str, torch.optim.lr_scheduler.LRScheduler],
                       scalers: Mapping[str, torch.amp.GradScaler]) -> dict[str, Any]:
    """The state ``TrainingStep.state_dict`` returns, from the step's named optimisers, schedules and scalers."""
    return {"optimizers": {k: v.state_dict() for k, v in optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in schedulers.items()},
            "scalers": {k: v.state_dict() for k, v in scalers.items()}}


def load_optimisation_state(state: Mapping[str, Any], optimizers: Mapping[str, torch.optim.Optimizer],
                            schedulers: Mapping[str, torch.optim.lr_scheduler.LRScheduler],
                            scalers: Mapping[str, torch.amp.GradScaler]) -> None:
    """The inverse of ``optimisation_state``; what ``state`` lacks (a part added since) stays as it is."""
    for kind, objects in (("optimizers", optimizers), ("schedulers", schedulers), ("scalers", scalers)):
        saved = state[kind]
        for name, obj in objects.items():
            if name in saved:
                obj.load_state_dict(saved[name])
