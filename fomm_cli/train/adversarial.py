"""The adversarial part of FOMM's training step (configs whose ``generator_gan`` weight is not zero): a
multi-scale discriminator, the generator's LSGAN and feature-matching terms, and the discriminator's update,
as the reference's ``GeneratorFullModel`` / ``DiscriminatorFullModel`` compute them."""

from __future__ import annotations

import torch
from torch import nn

from fomm_cli.models.discriminator import MultiScaleDiscriminator
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.fomm_step import FommStep, Forward, adam
from fomm_cli.train.losses import (
    PerceptualLoss,
    Pyramid,
    PyramidL1Loss,
    discriminator_loss,
    feature_matching_loss,
    generator_gan_loss,
)
from fomm_cli.train.step import ddp
from fomm_cli.train.transforms import WarpSource


class AdversarialFommStep(FommStep):
    """``FommStep`` with a multi-scale discriminator: LSGAN and feature-matching terms for the generator,
    and a discriminator update after the generator's."""

    def __init__(self, model: FirstOrderModel, config: TrainConfig, device: torch.device, world: int,
                 precision: str, perceptual: PerceptualLoss | PyramidL1Loss, warps: WarpSource) -> None:
        if model.discriminator is None:
            raise ValueError("an adversarial step needs a model built with its discriminator")
        self.discriminator_module: MultiScaleDiscriminator = model.discriminator
        super().__init__(model, config, device, world, precision, perceptual, warps)
        self.disc_scales = [float(s) for s in self.discriminator_module.scales]
        self.optimizers["discriminator"] = adam(self.discriminator_module, config.train.lr_discriminator)
        self._add_schedule("discriminator", "discriminator")
        self.discriminator: nn.Module = self.discriminator_module  # DDP-wrapped by ``distribute``

    def _pyramid_scales(self) -> list[float]:
        return list(self.config.train.scales) + [float(s) for s in self.discriminator_module.scales]

    def adversarial_terms(self, real: Pyramid, fake: Pyramid, kp_driving: Keypoints) -> dict[str, torch.Tensor]:
        w = self.weights
        disc, kp = self.discriminator_module, kp_driving.value.detach()
        disc.requires_grad_(False)  # gradients flow to the generator only (the plain module: no DDP hooks)
        try:
            d_fake = disc({s: fake[s] for s in self.disc_scales}, kp)
            with torch.no_grad():
                d_real = disc({s: real[s] for s in self.disc_scales}, kp)
        finally:
            disc.requires_grad_(True)
        losses = {"gen_gan": generator_gan_loss(d_fake, w.generator_gan)}
        if sum(w.feature_matching) != 0:
            losses["feature_matching"] = feature_matching_loss(d_fake, d_real, w.feature_matching)
        return losses

    def after_generator_update(self, forward: Forward) -> dict[str, torch.Tensor]:
        kp = forward.kp_driving.value.detach()
        with self.autocast():
            d_fake = self.discriminator({s: forward.fake[s].detach() for s in self.disc_scales}, kp)
            d_real = self.discriminator({s: forward.real[s] for s in self.disc_scales}, kp)
            loss = discriminator_loss(d_real, d_fake, self.weights.discriminator_gan)
        optimizer, scaler = self.optimizers["discriminator"], self.scalers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return {"disc_gan": loss.detach()}

    def distribute(self) -> None:
        super().distribute()
        if self.world > 1:
            self.discriminator = ddp(self.discriminator_module, self.device, self.world)
