"""The whole model: keypoint detector + generator (+ discriminator for training), built from a config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from fomm_cli.config import ModelConfig
from fomm_cli.models.discriminator import MultiScaleDiscriminator
from fomm_cli.models.generator import OcclusionAwareGenerator
from fomm_cli.models.keypoint_detector import KeypointDetector

if TYPE_CHECKING:
    from fomm_cli.animate import InferenceEngine

# Sub-modules in the order (and under the names) the official checkpoints store them.
PARTS = ("generator", "kp_detector", "discriminator")


class FirstOrderModel(nn.Module):
    """A container whose children carry the official state-dict names (``generator``, ``kp_detector``,
    ``discriminator``), so ``model.generator.load_state_dict(ckpt['generator'])`` works unchanged."""

    def __init__(self, config: ModelConfig, with_discriminator: bool = False) -> None:
        super().__init__()
        self.config = config
        self.kp_detector = KeypointDetector(**config.kp_detector_kwargs())
        self.generator = OcclusionAwareGenerator(**config.generator_kwargs())
        self.discriminator = (MultiScaleDiscriminator(**config.discriminator_kwargs())
                              if with_discriminator and config.discriminator is not None else None)

    def parts(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in PARTS if getattr(self, name) is not None}

    def for_inference(self, device: torch.device, *, precision: str = "fp32",
                      channels_last: bool = True) -> InferenceEngine:
        """An inference engine on a rewritten copy of this model (see ``fomm_cli.animate.Animator``)."""
        from fomm_cli.models.inference import FommEngine

        return FommEngine(self, device, precision=precision, channels_last=channels_last)
