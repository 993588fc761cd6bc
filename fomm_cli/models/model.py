"""The whole model: keypoint detector + generator (+ discriminator for training), built from a config."""

from __future__ import annotations

from torch import nn

from fomm_cli.config import ModelConfig
from fomm_cli.models.discriminator import MultiScaleDiscriminator
from fomm_cli.models.generator import OcclusionAwareGenerator
from fomm_cli.models.keypoint_detector import KeypointDetector

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
