"""Model families and the training steps they plug into the loop (``step.StepFactory``).

A family adds its factory to ``STEPS`` under the name its configs' models carry (``config.model.family``):
FOMM's and TPSMM's (which trains the model, or its AVD network in the ``train_avd`` mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from fomm_cli.models.model import FirstOrderModel
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.reporting import Reporter
from fomm_cli.train.adversarial import AdversarialFommStep
from fomm_cli.train.avd_step import AVDStep, ScaleSampler
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.distributed import Dist
from fomm_cli.train.fomm_step import FommStep
from fomm_cli.train.losses import PerceptualLoss, PyramidL1Loss
from fomm_cli.train.step import StepFactory, TrainingStep
from fomm_cli.train.tpsmm_config import TPSMMTrainConfig
from fomm_cli.train.tpsmm_step import DropoutSampler, TPSMMStep
from fomm_cli.train.transforms import WarpSampler


def perceptual_loss(kind: str, scales: Sequence[float], weights: Sequence[float], vgg_weights: Path | None,
                    reporter: Reporter) -> PerceptualLoss | PyramidL1Loss:
    """The reconstruction loss on image pyramids: VGG-19 features, or pixel L1 (weight: the weights' sum)."""
    if kind == "vgg19" and sum(weights) != 0:
        from fomm_cli.train.vgg_weights import load_vgg19

        vgg, path = load_vgg19(vgg_weights, reporter)
        reporter.note(f"perceptual loss: VGG-19 weights from {path}")
        return PerceptualLoss(vgg, scales, weights)
    return PyramidL1Loss(scales, sum(weights))


def build_fomm_step(config: TrainConfig, device: torch.device, info: Dist, precision: str,
                    vgg_weights: Path | None, rng: torch.Generator, reporter: Reporter) -> FommStep:
    """The step a FOMM config asks for: weights initialised from ``config.train.seed`` (the same on every
    process; the global RNG is left as it was), warps drawn from ``rng``."""
    t = config.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(t.seed)
        model = FirstOrderModel(config.model, with_discriminator=config.gan)
    perceptual = perceptual_loss(t.perceptual_loss, t.scales, t.loss_weights.perceptual, vgg_weights, reporter)
    tp = t.transform_params
    warps = WarpSampler(tp.sigma_affine, tp.sigma_tps, tp.points_tps, t.warp_tps, rng)
    step_class = AdversarialFommStep if config.gan else FommStep
    return step_class(model, config, device, info.world, precision, perceptual, warps)


def build_tpsmm_step(config: TPSMMTrainConfig, device: torch.device, info: Dist, precision: str,
                     vgg_weights: Path | None, rng: torch.Generator, reporter: Reporter) -> TrainingStep:
    """The step of the config's mode: the model's (without an AVD network: the reference's trainer saves none)
    or the AVD network's. Weights initialised from the active block's seed; random draws from ``rng``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model = TPSMotionModel(config.model if config.avd else replace(config.model, avd=None))
    if config.avd:
        return AVDStep(model, config, device, info.world, precision,
                       ScaleSampler(config.train_avd_params.random_scale, rng))
    t = config.train_params
    perceptual = perceptual_loss(t.perceptual_loss, t.scales, t.loss_weights.perceptual, vgg_weights, reporter)
    tp = t.transform_params
    warps = WarpSampler(tp.sigma_affine, tp.sigma_tps, tp.points_tps, "tpsmm", rng)
    return TPSMMStep(model, config, device, info.world, precision, perceptual, warps, DropoutSampler(rng))


STEPS: dict[str, StepFactory] = {"fomm": build_fomm_step, "tpsmm": build_tpsmm_step}
