"""The AVD network's training step (animation via disentanglement), as the reference ``train_avd.py`` trains
it on top of a trained TPSMM.

Per step, without gradients: keypoints of the source and of the driving frame from the frozen keypoint
detector, which stays in train mode as in the reference (BatchNorm normalises with the batch's statistics and
updates its running averages, which the saved model carries); the driving keypoints scaled by random factors
from [1 - random_scale, 1 + random_scale], x and y apart. The AVD network re-poses the source keypoints with the
scaled driving keypoints as the pose; the loss ``rec_kp`` = lambda_shift * mean |driving - re-posed| makes it
recover the driving keypoints: identity from the source, pose from the driving frame. Adam (betas 0.5, 0.999)
steps the AVD network alone. Its learning rate drops 10x one epoch after each milestone, as the reference's
``scheduler.step(epoch)`` drops it.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.train.step import Column, StepOutput, ddp
from fomm_cli.train.tpsmm_config import TPSMMTrainConfig
from fomm_cli.train.tpsmm_step import TPSMMSteps


class ScaleSource(Protocol):
    """Scale factors for the driving keypoints: random ones in training, given ones in tests."""

    def __call__(self, batch: int, device: torch.device) -> torch.Tensor:
        """B x 2 factors, for x and y."""
        ...


class ScaleSampler:
    """Factors from [1 - scale, 1 + scale], drawn from ``generator`` (a CPU generator saved in checkpoints)
    as the reference draws them."""

    def __init__(self, scale: float, generator: torch.Generator) -> None:
        self.scale, self.generator = scale, generator

    def __call__(self, batch: int, device: torch.device) -> torch.Tensor:
        return (torch.rand(batch, 2, generator=self.generator) * (2 * self.scale) + (1 - self.scale)).to(device)


class AVDStep(TPSMMSteps):
    """``model``: a TPSMM with an AVD network, whose other parts stay as they are (but for the keypoint
    detector's BatchNorm averages); ``scales``: where the scale factors come from."""

    def __init__(self, model: TPSMotionModel, config: TPSMMTrainConfig, device: torch.device, world: int,
                 precision: str, scales: ScaleSource) -> None:
        if model.avd_network is None:
            raise ValueError("an AVD step needs a model with an AVD network")
        super().__init__(model, device, world, precision)
        self.params = config.train_avd_params
        self.scales = scales
        self.model.requires_grad_(False)
        self.network = model.avd_network
        self.network.requires_grad_(True)
        # The reference steps its scheduler with the finished epoch's number: each drop comes an epoch late.
        milestones = [m + 1 for m in self.params.epoch_milestones]
        self._add_optimizer("avd_network", torch.optim.Adam(self.network.parameters(), lr=self.params.lr,
                                                            betas=(0.5, 0.999), foreach=True), milestones)
        self.avd: nn.Module = self.network  # DDP-wrapped by ``distribute``

    def __call__(self, source: torch.Tensor, driving: torch.Tensor) -> StepOutput:
        source = source.contiguous(memory_format=torch.channels_last)
        driving = driving.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            with torch.no_grad():
                kp_source = self.model.kp_detector(source)
                kp_driving = self.model.kp_detector(driving)
                scale = self.scales(source.shape[0], self.device).to(kp_driving.value.dtype)
                kp_scaled = Keypoints(kp_driving.value * scale[:, None, :])
            posed: Keypoints = self.avd(kp_source, kp_scaled)
            loss = self.params.lambda_shift * (kp_driving.value - posed.value.to(kp_driving.value.dtype)).abs().mean()
        optimizer = self.optimizers["avd_network"]
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        columns: list[Column] = [(source, kp_source.value), (driving, kp_driving.value), (driving, kp_scaled.value),
                                 (driving, posed.value.detach())]
        return StepOutput({"rec_kp": loss.detach()}, loss.detach(), None, None, columns)

    def distribute(self) -> None:
        self.avd = ddp(self.network, self.device, self.world)
