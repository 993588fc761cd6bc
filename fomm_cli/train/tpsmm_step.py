"""TPSMM's training step, term by term as the reference trainer (``modules/model.py`` ``GeneratorFullModel``
and the loop of ``train.py`` in ``yoyo-nb/Thin-Plate-Spline-Motion-Model``).

Per step: keypoints of the source and of the driving frame (one detector call each, so BatchNorm statistics are
per call); from epoch ``bg_start``, the background's affine motion driving -> source; the dense motion network,
its splines dropped at the epoch's rate (paper Eq. 7-8); the inpainting network's reconstruction. Losses:

- ``perceptual``: VGG-19 features (or pixel L1) on an image pyramid, as FOMM's;
- ``equivariance_value``: keypoints of the driving frame under a random warp (``tpsmm`` form, sampled with
  ``align_corners=True``), warped back, against the driving keypoints (a third detector call);
- ``warp_loss``: each encoder level of the source, warped by the flow and masked, against that level of the
  driving frame's encoding, masked alike; only the flow and the masks' network get its gradient;
- ``bg``: mean |I - A(source <- driving) A(driving <- source)| (a second background call), from ``bg_start``.

One Adam (betas 0.5, 0.999, weight decay 1e-4) steps the keypoint detector, dense motion and inpainting networks,
a second one the background predictor from ``bg_start``; before the steps the gradients of the keypoint
detector, the dense motion network and (when it steps) the background predictor are clipped, each module to an
infinity norm of 10. Learning rates drop 10x at ``epoch_milestones`` (both schedules advance every epoch).
"""

from __future__ import annotations

import math
import re
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from fomm_cli.errors import CheckpointError
from fomm_cli.models.blocks import at_least_float32
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.tpsmm.dense_motion import TPSDenseMotion
from fomm_cli.models.tpsmm.inpainting import InpaintingOutput
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.train.fomm_step import autocast_dtype
from fomm_cli.train.losses import ImagePyramid, PerceptualLoss, PyramidL1Loss, equivariance_value_loss
from fomm_cli.train.step import (
    Column,
    StepOutput,
    channels_last,
    ddp,
    load_optimisation_state,
    load_parts,
    optimisation_state,
)
from fomm_cli.train.tpsmm_config import TPSMMTrainConfig
from fomm_cli.train.transforms import WarpSource

CLIP = 10.0  # the reference's max_norm (infinity norm) for the clipped modules
OPTIONAL_PARTS = ("bg_predictor", "avd_network")  # kept as initialised when a file lacks them, as the reference


class DropoutSource(Protocol):
    """The motions kept by the dense motion network's dropout: random ones in training, given ones in tests."""

    def __call__(self, batch: int, motions: int, p: float, device: torch.device) -> torch.Tensor:
        """B x motions, 1 (kept) or 0 (dropped) with probability ``p``; the background (column 0) always 1."""
        ...


class DropoutSampler:
    """Dropout draws from ``generator`` (a CPU generator saved in checkpoints, like the warps'), made as the
    reference makes them: uniform numbers compared with 1 - p."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def __call__(self, batch: int, motions: int, p: float, device: torch.device) -> torch.Tensor:
        keep = (torch.rand(batch, motions, generator=self.generator) < 1 - p).float()
        keep[:, 0] = 1
        return keep.to(device)


def read_tpsmm_weights(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """{part: state dict} of a TPSMM from a checkpoint folder of a run or any model file the family reads."""
    from fomm_cli.checkpoints import is_pretrained_dir, load_model, read_pretrained

    if is_pretrained_dir(path):
        config, states = read_pretrained(path)
        family = config.family
    else:
        model = load_model(path)
        family = model.config.family
        states = {name: module.state_dict() for name, module in model.parts().items()}
    if family != "tpsmm":
        raise CheckpointError(path, "a FOMM model cannot start TPSMM training (use a FOMM config)")
    return states


class TPSMMSteps:
    """What the model step and the AVD step share: the model on its device in train mode, optimisers with
    schedules, autocast, checkpoint weights and state. The epoch is the number of schedule advances."""

    def __init__(self, model: TPSMotionModel, device: torch.device, world: int, precision: str) -> None:
        self.device, self.world = device, world
        self.amp_dtype = autocast_dtype(precision, device)
        self.model = channels_last(model.to(device))
        self.model.train()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        # One backward per step: one scaler for every optimiser (fp16 only).
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)

    def _add_optimizer(self, name: str, optimizer: torch.optim.Optimizer, milestones: list[int]) -> None:
        self.optimizers[name] = optimizer
        self.schedulers[name] = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)

    @property
    def epoch(self) -> int:
        """Epochs completed (the schedules' count)."""
        return int(next(iter(self.schedulers.values())).last_epoch)

    def autocast(self) -> AbstractContextManager:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def end_epoch(self) -> None:
        with warnings.catch_warnings():
            # The background predictor's schedule advances before its first step (from bg_start), as the
            # reference's does; torch warns about that order.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
            for scheduler in self.schedulers.values():
                scheduler.step()

    def learning_rate(self) -> float:
        return float(next(iter(self.optimizers.values())).param_groups[0]["lr"])

    def save_weights(self, folder: Path) -> None:
        from fomm_cli.checkpoints import save_pretrained

        save_pretrained(self.model, folder)

    def load_weights(self, path: Path) -> None:
        states = read_tpsmm_weights(path)
        load_parts(self.model.parts(), states, path, OPTIONAL_PARTS)

    def state_dict(self) -> dict[str, Any]:
        return optimisation_state(self.optimizers, self.schedulers, {"model": self.scaler})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_optimisation_state(state, self.optimizers, self.schedulers, {"model": self.scaler})


@dataclass
class TPSMMForward:
    """The forward side of one step, before the update."""

    losses: dict[str, torch.Tensor]
    kp_source: Keypoints
    kp_driving: Keypoints
    motion: TPSDenseMotion
    generated: InpaintingOutput
    transformed: tuple[torch.Tensor, Keypoints] | None  # the warped driving frame and its keypoints
    background: bool  # whether the background motion was on


class TPSMMStep(TPSMMSteps):
    """``model``: the weights to train (without an AVD network); ``perceptual``: the reconstruction loss on
    image pyramids; ``warps`` and ``dropout``: where the random warps and the dropped splines come from."""

    def __init__(self, model: TPSMotionModel, config: TPSMMTrainConfig, device: torch.device, world: int,
                 precision: str, perceptual: PerceptualLoss | PyramidL1Loss, warps: WarpSource,
                 dropout: DropoutSource) -> None:
        super().__init__(model, device, world, precision)
        t = self.params = config.train_params
        self.config = config
        self.train_kp = not t.freeze_kp_detector
        if not self.train_kp:
            self.model.kp_detector.requires_grad_(False)
        bg = self.model.bg_predictor
        self.train_bg = bg is not None and not t.freeze_bg_predictor
        if bg is not None and not self.train_bg:
            bg.requires_grad_(False)
        self.pyramid = ImagePyramid(t.scales, config.model.num_channels).to(device)
        self.perceptual = perceptual.to(device)
        self.warps, self.dropout = warps, dropout

        optimizer = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        betas = (t.optimizer_params.betas[0], t.optimizer_params.betas[1])
        trained = [self.model.inpainting_network, self.model.dense_motion_network]
        trained += [self.model.kp_detector] if self.train_kp else []
        self._add_optimizer("model", optimizer([p for m in trained for p in m.parameters()], lr=t.lr_generator,
                                               betas=betas, weight_decay=t.optimizer_params.weight_decay,
                                               foreach=True), t.epoch_milestones)
        if self.train_bg and bg is not None:
            self._add_optimizer("bg_predictor", optimizer(bg.parameters(), lr=t.lr_generator, betas=betas,
                                                          weight_decay=t.optimizer_params.weight_decay,
                                                          foreach=True), t.epoch_milestones)
        # The modules the forward pass calls: DDP wrappers after ``distribute``, the plain modules before.
        self.kp_detector: nn.Module = self.model.kp_detector
        self.dense_motion: nn.Module = self.model.dense_motion_network
        self.inpainting: nn.Module = self.model.inpainting_network
        self.bg_predictor: nn.Module | None = bg

    # -- one step --------------------------------------------------------------------------------------

    def __call__(self, source: torch.Tensor, driving: torch.Tensor) -> StepOutput:
        source = source.contiguous(memory_format=torch.channels_last)
        driving = driving.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            forward = self.forward(source, driving)
        total = sum(forward.losses.values(), torch.zeros((), device=self.device))
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        stepping = [name for name in self.optimizers if name != "bg_predictor" or forward.background]
        for name in stepping:
            self.scaler.unscale_(self.optimizers[name])
        clipped: list[nn.Module] = [self.model.dense_motion_network]
        if self.train_kp:
            clipped.append(self.model.kp_detector)
        if "bg_predictor" in stepping and self.model.bg_predictor is not None:
            clipped.append(self.model.bg_predictor)
        for module in clipped:
            nn.utils.clip_grad_norm_(module.parameters(), CLIP, norm_type=math.inf)
        for name in stepping:
            self.scaler.step(self.optimizers[name])
        self.scaler.update()
        losses = {name: value.detach() for name, value in forward.losses.items()}
        return StepOutput(losses, total.detach(), forward.generated.prediction.detach(), driving,
                          self._columns(source, driving, forward))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> TPSMMForward:
        """Keypoints, motion, reconstruction and the weighted loss terms (the reference's order)."""
        t, w = self.params, self.params.loss_weights
        batch = source.shape[0]
        kp_source, kp_driving = self.kp_detector(source), self.kp_detector(driving)
        background = self.bg_predictor is not None and self.epoch >= t.bg_start
        bg_param = self.bg_predictor(source, driving) if background and self.bg_predictor is not None else None
        p = t.dropout_p(self.epoch)
        keep = None if p is None else self.dropout(batch, self.config.model.num_tps + 1, p, self.device)
        motion = self.dense_motion(self.model.dense_motion_network.downscale(source), kp_driving, kp_source,
                                   bg_param, keep)
        generated: InpaintingOutput = self.inpainting(source, motion)

        losses: dict[str, torch.Tensor] = {}
        if sum(w.perceptual) != 0:
            losses["perceptual"] = self.perceptual(self.pyramid(generated.prediction), self.pyramid(driving))
        transformed = None
        if w.equivariance_value != 0:
            warp = self.warps(batch, self.device)
            warped = warp.warp_image(driving, align_corners=True)
            kp_warped = self.kp_detector(warped)
            transformed = (warped, kp_warped)
            losses["equivariance_value"] = equivariance_value_loss(kp_driving, kp_warped, warp, w.equivariance_value)
        if w.warp_loss != 0:
            with torch.no_grad():  # the targets are detached in the reference too
                targets = self.model.inpainting_network.encode_driving(driving, motion.occlusion_maps)
            levels = generated.warped_features  # coarsest first; the targets finest first
            value = sum(((at_least_float32(target) - at_least_float32(levels[-i - 1])).abs().mean()
                         for i, target in enumerate(targets)), torch.zeros((), device=self.device))
            losses["warp_loss"] = w.warp_loss * value
        if bg_param is not None and self.bg_predictor is not None and w.bg != 0:
            reverse = self.bg_predictor(driving, source)
            with torch.autocast(self.device.type, enabled=False):  # |I - AB| is small: no half-precision product
                product = bg_param @ reverse
            eye = torch.eye(3, dtype=product.dtype, device=product.device)
            losses["bg"] = w.bg * (eye - product).abs().mean()
        return TPSMMForward(losses, kp_source, kp_driving, motion, generated, transformed, background)

    @staticmethod
    def _columns(source: torch.Tensor, driving: torch.Tensor, forward: TPSMMForward) -> list[Column]:
        columns: list[Column] = [(source, forward.kp_source.value), (driving, forward.kp_driving.value)]
        if forward.transformed is not None:
            columns.append((forward.transformed[0], forward.transformed[1].value))
        columns += [(forward.generated.deformed, None), (forward.generated.prediction, None),
                    (forward.motion.occlusion_maps[-1], None)]
        return [(images.detach(), None if kp is None else kp.detach()) for images, kp in columns]

    def distribute(self) -> None:
        self.dense_motion = ddp(self.model.dense_motion_network, self.device, self.world)
        self.inpainting = ddp(self.model.inpainting_network, self.device, self.world)
        if self.train_kp:
            self.kp_detector = ddp(self.model.kp_detector, self.device, self.world)
        if self.train_bg and self.model.bg_predictor is not None:
            self.bg_predictor = ddp(self.model.bg_predictor, self.device, self.world)
