"""FOMM's training step, term by term as the authors' trainer (``GeneratorFullModel``,
``DiscriminatorFullModel`` and the loop of ``train.py``).

Per step: keypoints of the source and the driving frame (one detector call each, so BatchNorm statistics
are per call); the generator reconstructs the driving frame from the source; perceptual loss on an image
pyramid; with a discriminator, LSGAN and feature-matching terms; keypoints of a randomly warped driving
frame (a third call) and the equivariance losses. The generator and the keypoint detector take one Adam
step on the sum; then the discriminator takes one step on the detached prediction. The discriminator runs
four times per step (fake then real for the generator's terms, again for its own), as in the reference:
with spectral norm each call is one power iteration. Learning rates drop 10x at ``epoch_milestones``.

``train_params`` options of ours (``warp_tps``, ``warp_align_corners``, ``keypoints_one_pass``) change
the equivariance warp and the detector calls; they are off in the official presets. The discriminator's
part is ``adversarial.AdversarialFommStep``; ``families`` builds the step a config asks for.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fomm_cli.errors import CheckpointError, ConflictingSettings, InvalidSetting
from fomm_cli.models.generator import GeneratorOutput
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.losses import (
    ImagePyramid,
    PerceptualLoss,
    Pyramid,
    PyramidL1Loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
)
from fomm_cli.train.step import (
    Column,
    StepOutput,
    channels_last,
    ddp,
    load_optimisation_state,
    load_parts,
    optimisation_state,
)
from fomm_cli.train.transforms import WarpSource

_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (None: full precision)."""
    if precision not in _AUTOCAST:
        raise InvalidSetting("precision", precision, "fp32, bf16 or fp16")
    if precision == "fp16" and device.type != "cuda":
        raise ConflictingSettings(("precision", "device"), "fp16 needs a CUDA device (use bf16 on CPU)")
    return _AUTOCAST[precision]


def adam(module: nn.Module, lr: float) -> torch.optim.Optimizer:
    """The reference's Adam (betas 0.5, 0.999); foreach: one fused kernel per tensor group."""
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999), foreach=True)


@dataclass
class Forward:
    """The generator side of one step, before the update."""

    losses: dict[str, torch.Tensor]
    kp_source: Keypoints
    kp_driving: Keypoints
    generated: GeneratorOutput
    real: Pyramid
    fake: Pyramid
    transformed: tuple[torch.Tensor, Keypoints] | None  # the warped driving frame and its keypoints


class FommStep:
    """Generator and keypoint-detector updates (no discriminator: see ``AdversarialFommStep``).

    ``model``: the weights to train (channels-last on ``device`` from here on). ``perceptual``: the
    reconstruction loss on image pyramids (VGG-19 features, or pixel L1). ``warps``: where the
    equivariance warps come from.
    """

    def __init__(self, model: FirstOrderModel, config: TrainConfig, device: torch.device, world: int,
                 precision: str, perceptual: PerceptualLoss | PyramidL1Loss, warps: WarpSource) -> None:
        t = config.train
        self.config, self.device, self.world = config, device, world
        self.weights = t.loss_weights
        self.amp_dtype = autocast_dtype(precision, device)
        # Channels-last: ~1.25x faster convolutions on CPU in fp32, ~1.9x with bf16 autocast (oneDNN), and the
        # layout tensor cores want on CUDA.
        self.model = channels_last(model.to(device))
        self.train_kp = t.lr_kp_detector != 0
        if not self.train_kp:
            self.model.kp_detector.requires_grad_(False)
        if world > 1 and device.type == "cuda":
            self.model.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.model.generator)
            self.model.kp_detector = nn.SyncBatchNorm.convert_sync_batchnorm(self.model.kp_detector)
        self.model.train()
        self.pyramid = ImagePyramid(self._pyramid_scales(), config.model.num_channels).to(device)
        self.perceptual = perceptual.to(device)
        self.warps = warps
        self.equivariance = self.weights.equivariance_value != 0 or self.weights.equivariance_jacobian != 0

        self.optimizers: dict[str, torch.optim.Optimizer] = {"generator": adam(self.model.generator, t.lr_generator)}
        if self.train_kp:
            self.optimizers["kp_detector"] = adam(self.model.kp_detector, t.lr_kp_detector)
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self._add_schedule("generator", *self.optimizers)
        # The modules the forward pass calls: DDP wrappers after ``distribute``, the plain modules before.
        self.kp_detector: nn.Module = self.model.kp_detector
        self.generator: nn.Module = self.model.generator

    def _pyramid_scales(self) -> list[float]:
        return list(self.config.train.scales)

    def _add_schedule(self, scaler: str, *optimizers: str) -> None:
        t = self.config.train
        for name in optimizers:
            self.schedulers[name] = torch.optim.lr_scheduler.MultiStepLR(
                self.optimizers[name], t.epoch_milestones, gamma=0.1)
        self.scalers[scaler] = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def autocast(self) -> AbstractContextManager:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- one step --------------------------------------------------------------------------------------

    def __call__(self, source: torch.Tensor, driving: torch.Tensor) -> StepOutput:
        source = source.contiguous(memory_format=torch.channels_last)
        driving = driving.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            forward = self.forward(source, driving)
        total = sum(forward.losses.values(), torch.zeros((), device=self.device))
        parts = [name for name in ("generator", "kp_detector") if name in self.optimizers]
        for name in parts:
            self.optimizers[name].zero_grad(set_to_none=True)
        scaler = self.scalers["generator"]
        scaler.scale(total).backward()
        for name in parts:
            scaler.step(self.optimizers[name])
        scaler.update()
        losses = {name: value.detach() for name, value in forward.losses.items()}
        losses.update(self.after_generator_update(forward))
        return StepOutput(losses, total.detach(), forward.generated.prediction.detach(), driving,
                          self._columns(source, driving, forward))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> Forward:
        """Keypoints, generation and the generator's weighted loss terms (the reference's order)."""
        t, w = self.config.train, self.weights
        warp = self.warps(source.shape[0], self.device) if self.equivariance else None
        warped = warp.warp_image(driving, align_corners=t.warp_align_corners) if warp is not None else None
        frames = [source, driving] + ([warped] if warped is not None else [])
        if t.keypoints_one_pass:  # ours: one call, BatchNorm statistics pooled over the three kinds of frame
            everything = self.kp_detector(torch.cat(frames))
            keypoints = [everything[i * len(source):(i + 1) * len(source)] for i in range(len(frames))]
        else:  # the reference: one call per kind of frame (the warped one after the generator's losses)
            keypoints = [self.kp_detector(source), self.kp_detector(driving)]
        kp_source, kp_driving = keypoints[:2]
        generated: GeneratorOutput = self.generator(source, kp_driving=kp_driving, kp_source=kp_source)
        real, fake = self.pyramid(driving), self.pyramid(generated.prediction)
        losses: dict[str, torch.Tensor] = {}
        if sum(w.perceptual) != 0:
            losses["perceptual"] = self.perceptual(fake, real)
        losses.update(self.adversarial_terms(real, fake, kp_driving))
        transformed = None
        if warp is not None and warped is not None:
            kp_warped = keypoints[2] if t.keypoints_one_pass else self.kp_detector(warped)
            transformed = (warped, kp_warped)
            if w.equivariance_value != 0:
                losses["equivariance_value"] = equivariance_value_loss(kp_driving, kp_warped, warp,
                                                                       w.equivariance_value)
            if w.equivariance_jacobian != 0:
                losses["equivariance_jacobian"] = equivariance_jacobian_loss(kp_driving, kp_warped, warp,
                                                                             w.equivariance_jacobian)
        return Forward(losses, kp_source, kp_driving, generated, real, fake, transformed)

    def adversarial_terms(self, real: Pyramid, fake: Pyramid, kp_driving: Keypoints) -> dict[str, torch.Tensor]:
        """The generator's adversarial loss terms: none without a discriminator."""
        return {}

    def after_generator_update(self, forward: Forward) -> dict[str, torch.Tensor]:
        """Updates that follow the generator's (the discriminator's), and their detached losses."""
        return {}

    @staticmethod
    def _columns(source: torch.Tensor, driving: torch.Tensor, forward: Forward) -> list[Column]:
        gen = forward.generated
        columns: list[Column] = [(source, forward.kp_source.value), (driving, forward.kp_driving.value)]
        if forward.transformed is not None:
            columns.append((forward.transformed[0], forward.transformed[1].value))
        if gen.deformed is not None:
            columns.append((gen.deformed, None))
        columns.append((gen.prediction, None))
        if gen.motion is not None and gen.motion.occlusion_map is not None:
            columns.append((gen.motion.occlusion_map, None))
        return [(images.detach(), None if kp is None else kp.detach()) for images, kp in columns]

    # -- schedule, processes, state ---------------------------------------------------------------------

    def end_epoch(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()

    def learning_rate(self) -> float:
        return float(self.optimizers["generator"].param_groups[0]["lr"])

    def distribute(self) -> None:
        if self.world == 1:
            return
        self.generator = ddp(self.model.generator, self.device, self.world)
        if self.train_kp:
            self.kp_detector = ddp(self.model.kp_detector, self.device, self.world)

    def save_weights(self, folder: Path) -> None:
        from fomm_cli.checkpoints import save_pretrained

        save_pretrained(self.model, folder)

    def load_weights(self, path: Path) -> None:
        from fomm_cli.checkpoints import is_pretrained_dir, load_model, read_pretrained

        if is_pretrained_dir(path):
            config, states = read_pretrained(path)
        else:
            model = load_model(path, with_discriminator=True)
            config, states = model.config, {name: module.state_dict() for name, module in model.parts().items()}
        if config.family != "fomm":
            raise CheckpointError(path, "a TPSMM model cannot start FOMM training (use a TPSMM config)")
        # Without a discriminator: e.g. adversarial fine-tuning of a model trained without one.
        load_parts(self.model.parts(), states, path, optional=("discriminator",))

    def state_dict(self) -> dict[str, Any]:
        return optimisation_state(self.optimizers, self.schedulers, self.scalers)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_optimisation_state(state, self.optimizers, self.schedulers, self.scalers)
