"""Model families and the training steps they plug into the loop (``step.StepFactory``).

A family adds its factory to ``STEPS`` under the name its configs carry; FOMM is the first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fomm_cli.models.model import FirstOrderModel
from fomm_cli.reporting import Reporter
from fomm_cli.train.adversarial import AdversarialFommStep
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.distributed import Dist
from fomm_cli.train.fomm_step import FommStep
from fomm_cli.train.losses import PerceptualLoss, PyramidL1Loss
from fomm_cli.train.step import StepFactory
from fomm_cli.train.transforms import WarpSampler


def build_fomm_step(config: TrainConfig, device: torch.device, info: Dist, precision: str,
                    vgg_weights: Path | None, rng: torch.Generator, reporter: Reporter) -> FommStep:
    """The step a FOMM config asks for: weights initialised from ``config.train.seed`` (the same on every
    process; the global RNG is left as it was), warps drawn from ``rng``."""
    t = config.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(t.seed)
        model = FirstOrderModel(config.model, with_discriminator=config.gan)
    perceptual: PerceptualLoss | PyramidL1Loss
    if t.perceptual_loss == "vgg19" and sum(t.loss_weights.perceptual) != 0:
        from fomm_cli.train.vgg_weights import load_vgg19

        vgg, path = load_vgg19(vgg_weights, reporter)
        reporter.note(f"perceptual loss: VGG-19 weights from {path}")
        perceptual = PerceptualLoss(vgg, t.scales, t.loss_weights.perceptual)
    else:
        perceptual = PyramidL1Loss(t.scales, sum(t.loss_weights.perceptual))
    tp = t.transform_params
    warps = WarpSampler(tp.sigma_affine, tp.sigma_tps, tp.points_tps, t.warp_tps, rng)
    step_class = AdversarialFommStep if config.gan else FommStep
    return step_class(model, config, device, info.world, precision, perceptual, warps)


STEPS: dict[str, StepFactory] = {"fomm": build_fomm_step}
